"""Immutable records the engine hands to readers on other threads (UI, report, writers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Frame layout produced by every source: a plain tuple, because one is built per packet.
#   (ts_ns, ifindex, direction, wire_len, data, linktype)
TS_NS, IFINDEX, DIRECTION, WIRE_LEN, DATA, LINKTYPE = range(6)
IN, OUT = 0, 1

USE_CASES = (
    "web",
    "mail",
    "file_transfer",
    "messaging",
    "streaming",
    "gaming",
    "voice",
    "name_resolution",
    "remote_access",
    "network_control",
    "unknown",
)

SOCKET_KINDS = ("stream", "datagram", "raw")


@dataclass(frozen=True, slots=True)
class Count:
    packets: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"packets": self.packets, "bytes": self.bytes}


class TwoWay:
    """``packets`` and ``bytes`` of a record counted each way (``*_ab`` src -> dst, ``*_ba`` back)."""

    __slots__ = ()
    packets_ab: int
    bytes_ab: int
    packets_ba: int
    bytes_ba: int

    @property
    def packets(self) -> int:
        return self.packets_ab + self.packets_ba

    @property
    def bytes(self) -> int:
        return self.bytes_ab + self.bytes_ba


@dataclass(frozen=True, slots=True)
class FlowView(TwoWay):
    """A copy of one flow as it was at snapshot time."""

    id: int  # stable for the life of the flow (for UI rows)
    proto: str
    family: int
    src: str
    sport: int | None
    dst: str
    dport: int | None
    app: str | None
    use_case: str
    reason: str | None
    name: str | None
    packets_ab: int
    bytes_ab: int
    packets_ba: int
    bytes_ba: int
    first_seen: float
    last_seen: float
    state: str
    ifindex: int = 0
    pid: int | None = None
    process: str | None = None
    user: str | None = None
    container: str | None = None
    owner_note: str | None = None  # why the owner is unknown (not local, socket gone, ...)
    local_src: bool | None = None  # the owner's socket is the src end (its "out" is src -> dst)


@dataclass(frozen=True, slots=True)
class PacketRow:
    """One frame from the ring, with the class of the flow it belongs to."""

    seq: int  # running number of the packet since capture start
    ts_ns: int
    ifindex: int
    direction: int
    wire_len: int
    data: bytes
    linktype: int
    flow_id: int
    app: str | None
    use_case: str


@dataclass(frozen=True, slots=True)
class HostView:
    """Traffic of one address (IP, or MAC for non-IP frames), over live and retired flows."""

    address: str
    packets_sent: int
    bytes_sent: int
    packets_received: int
    bytes_received: int
    flows: int  # live flows it takes part in

    @property
    def packets(self) -> int:
        return self.packets_sent + self.packets_received

    @property
    def bytes(self) -> int:
        return self.bytes_sent + self.bytes_received


@dataclass(frozen=True, slots=True)
class Series:
    """Per-second totals, oldest first; ``start`` is the epoch second of the first entry."""

    start: int = 0
    packets_in: tuple[int, ...] = ()
    packets_out: tuple[int, ...] = ()
    bytes_in: tuple[int, ...] = ()
    bytes_out: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    source_kind: str  # "live" | "file" | "none"
    source_name: str
    state: str  # "idle" | "running" | "ended" | "error" | "stopped"
    message: str | None
    bpf: str | None
    started_wall: float  # when capture started (time.time())
    duration_s: float
    first_ts: float | None
    last_ts: float | None
    packets: int
    bytes: int
    malformed: int
    kernel_packets: int
    kernel_drops: int
    flows_evicted: int
    flows_expired: int
    active_flows: int
    socket_kinds: Mapping[str, Count]
    protocols: Mapping[str, Count]  # every layer name, plus application protocols
    stacks: tuple[tuple[tuple[str, ...], Count], ...]  # protocol stacks for a hierarchy view
    use_cases: Mapping[str, Count]
    apps: Mapping[str, Count]
    flows: tuple[FlowView, ...]  # by bytes, largest first
    series: Series = field(default_factory=Series)
    use_case_series: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # bytes per second
    recent: tuple[PacketRow, ...] = ()
    seq: int = 0  # packets processed; grows with each one (lets readers tell new from old)
    interfaces: Mapping[int, tuple[str, int]] = field(default_factory=dict)  # ifindex -> (name, linktype)
    hosts: tuple[HostView, ...] = ()  # busiest first; only when snapshot(hosts=N) asks for them

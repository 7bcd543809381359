"""The flow table: bidirectional conversations, bounded in size.

A flow is keyed by its transport protocol and the unordered pair of endpoints, so both
directions of a conversation land in one record.  The table is owned by the capture
thread; readers get copies through ``Engine.snapshot()``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from socket import AF_INET, AF_INET6, inet_ntop

from tui.decode import PORT_PROTOCOLS

# TCP flag bits.
FIN, SYN, RST = 0x01, 0x02, 0x04

UNKNOWN = "unknown"


@dataclass(slots=True, eq=False)
class Flow:
    """One conversation.  ``src`` is the endpoint that sent the first packet seen."""

    key: tuple
    proto: str
    family: int
    src: bytes
    sport: int
    dst: bytes
    dport: int
    first_seen: float
    last_seen: float
    ifindex: int = 0
    id: int = 0  # stable number for readers (UI rows)
    a_low: bool = True  # whether the first sender is the lower endpoint of the key
    packets_ab: int = 0  # src -> dst
    bytes_ab: int = 0
    packets_ba: int = 0  # dst -> src
    bytes_ba: int = 0
    syn: bool = False
    fin: bool = False
    rst: bool = False
    # Classification (filled by the classifier; tentative until ``decided``).
    app: str | None = None
    use_case: str = UNKNOWN
    reason: str | None = None
    name: str | None = None
    decided: bool = False
    inspected: int = 0  # packets the classifier has looked at
    # Scratch space for the classifier (e.g. reassembly of a split ClientHello).
    scratch: object = None
    # Local process owning this flow, when known (filled by attribution).
    owner: object = None
    # The engine's counters this flow's packets go to, looked up once per flow (or when
    # its class or its layer stack changes) instead of once per packet.
    stack: tuple | None = None  # the layer stack of its last packet ...
    stack_rec: list | None = None  # ... and that stack's [packets, bytes]
    class_rec: list | None = None  # [packets, bytes, bytes at the start of this second] of its class

    @property
    def packets(self) -> int:
        return self.packets_ab + self.packets_ba

    @property
    def bytes(self) -> int:
        return self.bytes_ab + self.bytes_ba

    @property
    def state(self) -> str:
        """A short TCP state for people: new, open, closed or reset."""
        if self.proto != "TCP":
            return ""
        if self.rst:
            return "reset"
        if self.fin:
            return "closing"
        if self.syn:
            return "open"
        return "mid-stream"


def address_text(addr: bytes, family: int) -> str:
    """Human text for an address from decode(): IPv4/IPv6 notation, or a MAC address."""
    if family == 4 and len(addr) == 4:
        return inet_ntop(AF_INET, addr)  # the same text as ipaddress, several times faster
    if family == 6 and len(addr) == 16:
        # inet_ntop and ipaddress agree (RFC 5952) except where inet_ntop writes an embedded
        # IPv4 address (::ffff:a.b.c.d, ::a.b.c.d), which ipaddress of this Python may not.
        text = inet_ntop(AF_INET6, addr)
        return str(ipaddress.IPv6Address(addr)) if "." in text else text
    if not addr:
        return ""
    return ":".join(f"{b:02x}" for b in addr)


def has_ports(proto: str) -> bool:
    return proto in PORT_PROTOCOLS


class FlowTable:
    """Flows by key, with idle expiry and a size cap that evicts the least recently seen.

    Eviction works in batches: when the cap is passed, the oldest tenth (by last packet)
    goes at once, so the per-packet path never has to keep an LRU order up to date.
    """

    def __init__(
        self,
        cap: int = 100_000,
        idle_timeout: float | None = 300.0,
        closed_timeout: float = 30.0,
        on_retire: Callable[[Flow], None] | None = None,
    ) -> None:
        self.cap = cap
        self.idle_timeout = idle_timeout
        self.closed_timeout = closed_timeout
        self.flows: dict[tuple, Flow] = {}
        self.evicted = 0
        self.expired = 0
        self.evicting = False  # true while make_room hands its victims to on_retire
        self._on_retire = on_retire

    def __len__(self) -> int:
        return len(self.flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows.values())

    def make_room(self) -> None:
        """Evict the least recently seen tenth when the table is over its cap."""
        flows = self.flows
        if len(flows) < self.cap:
            return
        n = max(1, len(flows) - self.cap + max(1, self.cap // 10))
        victims = sorted(flows.values(), key=_last_seen)[:n]
        self.evicting = True
        for f in victims:
            del flows[f.key]
            if self._on_retire:
                self._on_retire(f)
        self.evicting = False
        self.evicted += len(victims)

    def expire(self, now: float) -> int:
        """Drop flows idle past their timeout; closed TCP flows go sooner."""
        if self.idle_timeout is None:
            return 0
        idle, closed = now - self.idle_timeout, now - self.closed_timeout
        gone = [f for f in self.flows.values() if f.last_seen < idle or ((f.fin or f.rst) and f.last_seen < closed)]
        for f in gone:
            del self.flows[f.key]
            if self._on_retire:
                self._on_retire(f)
        self.expired += len(gone)
        return len(gone)

    def clear(self) -> None:
        self.flows.clear()
        self.evicted = 0
        self.expired = 0


def _last_seen(f: Flow) -> float:
    return f.last_seen

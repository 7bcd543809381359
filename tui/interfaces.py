"""The machine's network interfaces, from the kernel over netlink (pyroute2).

``list_links`` takes one dump of links and addresses; ``LinkWatcher`` listens for the
kernel's link and address notifications on its own thread and calls back, so a picker
can refresh within a second of a link appearing, changing or going away. Counter rates
come from the difference between two dumps (``rates``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import IPRoute

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
ARPHRD_NAMES = {
    1: "ethernet",
    772: "loopback",
    776: "sit",
    778: "gre",
    768: "ipip",
    769: "ip6ip6",
    65534: "none",
    801: "wireless",
    803: "wireless",
    512: "ppp",
    823: "ip6gre",
    32: "infiniband",
    519: "rawip",
    280: "can",
}
# Link-layer kinds (IFLA_INFO_KIND) people know by another name.
KIND_NAMES = {"tun": "tun", "tap": "tap", "bond": "bond", "vlan": "vlan", "macvlan": "macvlan"}
# Multicast groups: links, IPv4 and IPv6 addresses.
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """One interface as the kernel describes it."""

    index: int
    name: str
    kind: str
    oper_state: str  # "up", "down", "unknown", "dormant", "lowerlayerdown", ...
    carrier: bool
    admin_up: bool
    mac: str
    mtu: int
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int


@dataclass(frozen=True, slots=True)
class LinkRates:
    rx_bps: float  # bits per second
    tx_bps: float
    rx_pps: float
    tx_pps: float


def _kind(msg) -> str:
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    flags = msg["flags"]
    if flags & IFF_LOOPBACK:
        return "loopback"
    name = msg.get("IFLA_IFNAME") or ""
    if kind == "tun":  # tun and tap both report "tun"; the link type tells them apart
        return "tap" if msg["ifi_type"] == 1 else "tun"
    if kind:
        return KIND_NAMES.get(kind, kind)
    if name and os.path.isdir(f"/sys/class/net/{name}/wireless"):
        return "wireless"
    return ARPHRD_NAMES.get(msg["ifi_type"], f"type {msg['ifi_type']}")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def list_links(ipr: IPRoute | None = None) -> list[LinkInfo]:
    """Every link in this network namespace with its addresses and counters, by index.

    pyroute2's synchronous API runs its own asyncio loop, which cannot start inside a
    running one (Textual's): called from such a thread, the dump runs on a helper thread.
    """
    if ipr is None and _loop_running():
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sockscope-links") as pool:
            return pool.submit(_list_links, None).result(timeout=10)
    return _list_links(ipr)


def _list_links(ipr: IPRoute | None) -> list[LinkInfo]:
    own = ipr is None
    if own:
        ipr = IPRoute()
    try:
        addrs: dict[int, tuple[list[str], list[str]]] = {}
        for a in ipr.get_addr():
            text = a.get("IFA_ADDRESS")
            if not text:
                continue
            v4, v6 = addrs.setdefault(a["index"], ([], []))
            (v4 if a["family"] == 2 else v6).append(f"{text}/{a['prefixlen']}")
        links = []
        for m in ipr.get_links():
            stats = m.get("IFLA_STATS64") or m.get("IFLA_STATS") or {}
            v4, v6 = addrs.get(m["index"], ([], []))
            state = (m.get("IFLA_OPERSTATE") or "unknown").lower()
            links.append(
                LinkInfo(
                    index=m["index"],
                    name=m.get("IFLA_IFNAME") or f"if{m['index']}",
                    kind=_kind(m),
                    oper_state=state,
                    carrier=bool(m.get("IFLA_CARRIER", 0)),
                    admin_up=bool(m["flags"] & IFF_UP),
                    mac=m.get("IFLA_ADDRESS") or "",
                    mtu=m.get("IFLA_MTU") or 0,
                    ipv4=tuple(v4),
                    ipv6=tuple(v6),
                    rx_bytes=stats.get("rx_bytes", 0) if stats else 0,
                    tx_bytes=stats.get("tx_bytes", 0) if stats else 0,
                    rx_packets=stats.get("rx_packets", 0) if stats else 0,
                    tx_packets=stats.get("tx_packets", 0) if stats else 0,
                )
            )
        return sorted(links, key=lambda li: li.index)
    finally:
        if own:
            ipr.close()


def rates(before: LinkInfo, after: LinkInfo, seconds: float) -> LinkRates:
    """Counter rates between two dumps of the same link (zero if counters went back)."""
    if seconds <= 0:
        return LinkRates(0.0, 0.0, 0.0, 0.0)

    def d(a: int, b: int) -> float:
        return max(b - a, 0) / seconds

    return LinkRates(
        d(before.rx_bytes, after.rx_bytes) * 8,
        d(before.tx_bytes, after.tx_bytes) * 8,
        d(before.rx_packets, after.rx_packets),
        d(before.tx_packets, after.tx_packets),
    )


class LinkWatcher:
    """Calls ``on_change()`` (on its own thread) when the kernel reports a link or address change.

    Notifications arriving together are coalesced into one call, at most every
    ``min_gap`` seconds, so a burst of events does not flood the caller.
    """

    def __init__(self, on_change: Callable[[], None], min_gap: float = 0.2) -> None:
        self._on_change = on_change
        self._min_gap = min_gap
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sockscope-links", daemon=True)

    def start(self) -> LinkWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        # Made here, not in __init__: pyroute2 cannot start inside the UI's running loop.
        self._ipr = IPRoute()
        self._ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        fd = self._ipr.fileno()
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([fd], [], [], 0.25)
                if not ready:
                    continue
                try:
                    self._ipr.get()
                except Exception:  # a buffer overrun (ENOBUFS) still means "something changed"
                    pass
                if self._stop.is_set():
                    break
                self._on_change()
                self._stop.wait(self._min_gap)
                # Drain what arrived during the gap: one call covers it.
                while not self._stop.is_set() and select.select([fd], [], [], 0)[0]:
                    try:
                        self._ipr.get()
                    except Exception:
                        break
        finally:
            self._ipr.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

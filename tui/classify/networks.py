"""Address knowledge: CIDR blocks -> service and use case, looked up by longest prefix.

Built from ``[[networks]]`` rules (rules.toml, a user's file, or one made by
``python -m tui.classify.build_networks`` from lists the providers publish).  A lookup costs
one index into a 65,536-entry gate of the address's first 16 bits (almost every address
stops there; for IPv6, whose /16s are crowded (2001::/16 holds most of the Internet), blocks
of /32 or longer also leave their first 32 bits in a set that is checked next), then a dict
lookup per prefix length present, longest first.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Family:
    bits: int
    maps: dict[int, dict[int, object]] = field(default_factory=dict)  # prefix length -> network -> hit
    lengths: tuple[int, ...] = ()  # longest first
    # first 16 bits -> 0: no block there; 1: only blocks of /32 or longer (see ``fine``); 2: a shorter one
    gate: bytearray = field(default_factory=lambda: bytearray(65536))
    fine: set[bytes] = field(default_factory=set)  # first 4 bytes of the blocks of /32 or longer

    def add(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, hit: object) -> None:
        plen = net.prefixlen
        key = int(net.network_address) >> (self.bits - plen)
        self.maps.setdefault(plen, {})[key] = hit
        self.lengths = tuple(sorted(self.maps, reverse=True))
        top = int(net.network_address) >> (self.bits - 16)
        span = 1 << max(0, 16 - plen)
        if plen >= 32:
            self.fine.add(net.network_address.packed[:4])
            if not self.gate[top]:
                self.gate[top] = 1
        else:
            self.gate[top : top + span] = b"\x02" * span

    def admits(self, addr: bytes) -> bool:
        """Whether some block may hold ``addr`` (the gate; ``get`` gives the answer)."""
        g = self.gate[(addr[0] << 8) | addr[1]]
        return g == 2 or (g == 1 and addr[:4] in self.fine)

    def get(self, value: int) -> object | None:
        g = self.gate[value >> (self.bits - 16)]
        if not g or (g == 1 and (value >> (self.bits - 32)).to_bytes(4, "big") not in self.fine):
            return None
        bits = self.bits
        maps = self.maps
        for plen in self.lengths:
            hit = maps[plen].get(value >> (bits - plen))
            if hit is not None:
                return hit
        return None


@dataclass(slots=True)
class NetworkTable:
    """CIDR -> hit (anything: the classifier stores (rule, reason) tuples), IPv4 and IPv6."""

    v4: _Family = field(default_factory=lambda: _Family(32))
    v6: _Family = field(default_factory=lambda: _Family(128))
    count: int = 0

    def add(self, cidr: str, hit: object) -> None:
        """Add one block (``strict``: host bits must be zero, so a typo is not silently widened)."""
        net = ipaddress.ip_network(cidr, strict=True)
        if net.prefixlen == 0:
            raise ValueError(f"{cidr}: a block must be narrower than the whole address space")
        (self.v4 if net.version == 4 else self.v6).add(net, hit)
        self.count += 1

    def lookup(self, addr: bytes) -> object | None:
        """The hit of the longest block holding ``addr`` (4 or 16 raw bytes), else None."""
        n = len(addr)
        if n == 4:
            return self.v4.get(int.from_bytes(addr, "big"))
        if n == 16:
            return self.v6.get(int.from_bytes(addr, "big"))
        return None

    def __bool__(self) -> bool:
        return self.count > 0

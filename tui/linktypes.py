"""pcap link-layer type numbers (LINKTYPE_*) and how Linux ARPHRD types map onto them."""

from __future__ import annotations

NULL = 0
ETHERNET = 1
PPP = 9
RAW = 101
PPP_HDLC = 50
LOOP = 108
LINUX_SLL = 113
ARCNET_LINUX = 129
IPNET = 226
IPV4 = 228
IPV6 = 229
LINUX_SLL2 = 276
IEEE802_11 = 105
IEEE802_11_RADIOTAP = 127
NETLINK = 253

# Link types whose frames start directly with an IP header (12 and 14 are BSD aliases of RAW).
RAW_IP = frozenset({RAW, 12, 14, IPV4, IPV6})

NAMES = {
    NULL: "Loopback",
    ETHERNET: "Ethernet",
    PPP: "PPP",
    RAW: "Raw IP",
    PPP_HDLC: "PPP",
    LOOP: "Loopback",
    LINUX_SLL: "Linux cooked",
    ARCNET_LINUX: "ARCnet",
    IPNET: "IPNET",
    IPV4: "Raw IP",
    IPV6: "Raw IP",
    LINUX_SLL2: "Linux cooked",
    IEEE802_11: "802.11",
    IEEE802_11_RADIOTAP: "Radiotap",
    NETLINK: "Netlink",
}

# Linux ARPHRD_* -> pcap link type, for frames read from an AF_PACKET SOCK_RAW socket.
_ARPHRD = {
    1: ETHERNET,  # ARPHRD_ETHER
    772: ETHERNET,  # ARPHRD_LOOPBACK: the kernel shows an Ethernet header with zero MACs
    65534: RAW,  # ARPHRD_NONE (tun, wireguard)
    768: RAW,  # ARPHRD_TUNNEL (ipip)
    769: RAW,  # ARPHRD_TUNNEL6
    776: RAW,  # ARPHRD_SIT
    778: RAW,  # ARPHRD_IPGRE (gre without Ethernet)
    823: RAW,  # ARPHRD_IP6GRE
    512: RAW,  # ARPHRD_PPP
    801: IEEE802_11,
    803: IEEE802_11_RADIOTAP,
    824: NETLINK,
}

ARPHRD_LOOPBACK = 772


def from_arphrd(hatype: int) -> int:
    """The pcap link type of frames from an interface of this ARPHRD type."""
    return _ARPHRD.get(hatype, ETHERNET)

"""One-line descriptions of packets and flows for the tables (cheap: no scapy)."""

from __future__ import annotations

import struct
import time

from tui.decode import DPORT, L4, PAYLOAD_OFF, SPORT, STACK, STATUS, TCPFLAGS, decode
from tui.flows import address_text
from tui.snapshot import FlowView, PacketRow, Snapshot
from tui.textsafe import safe_str

TCP_FLAG_NAMES = ((0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x20, "URG"))
DNS_PORTS = (53, 5353, 5355)


SHORT_LABELS = {"name_resolution": "name lookup", "network_control": "net control"}


def use_case_label(name: str) -> str:
    """At most 13 characters, for table columns."""
    return SHORT_LABELS.get(name, name.replace("_", " "))


def endpoint(addr: str, port: int | None) -> str:
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def flow_endpoints(f: FlowView) -> str:
    return f"{endpoint(f.src, f.sport)} → {endpoint(f.dst, f.dport)}"


def snap_now(snap: Snapshot) -> float:
    """The time the snapshot describes: the wall clock live, the last packet's time in a file."""
    if snap.source_kind == "live":
        return time.time()
    return snap.last_ts or 0.0


def packet_time(row: PacketRow, snap: Snapshot) -> str:
    """Time of day for live capture; seconds since the first packet for files (reproducible)."""
    ts = row.ts_ns / 1e9
    if snap.source_kind == "live":
        return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
    return f"+{ts - (snap.first_ts or ts):.3f}"


def _dns_name(payload: bytes) -> str | None:
    """The first question name of a DNS message, labels as sent (may be hostile bytes)."""
    if len(payload) < 13:
        return None
    qd = struct.unpack_from("!H", payload, 4)[0]
    if not qd:
        return None
    p, labels = 12, []
    while p < len(payload) and len(labels) < 64:
        n = payload[p]
        if n == 0:
            break
        if n & 0xC0:
            return None
        labels.append(payload[p + 1 : p + 1 + n])
        p += 1 + n
    if not labels:
        return "."
    return safe_str(b".".join(labels))


def _preview(payload: bytes) -> str | None:
    """The first line of a payload that looks like text (a request line, a banner)."""
    head = payload[:96]
    if not head:
        return None
    printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
    if printable < 0.8 * len(head):
        return None
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    return safe_str(line, limit=60) if line else None


def packet_parts(row: PacketRow) -> tuple[str, str, str]:
    """(endpoints, protocol, summary) of one packet, from the fast decoder."""
    m = decode(row.data, row.linktype)
    stack = m[STACK]
    fam = m[1]
    proto = m[L4] or (stack[-1] if stack else "?")
    sport, dport = m[SPORT], m[DPORT]
    ports = proto in ("TCP", "UDP", "SCTP", "UDP-Lite")
    if fam or m[2]:
        src = address_text(m[2], fam)
        dst = address_text(m[3], fam)
        ends = f"{endpoint(src, sport if ports else None)} → {endpoint(dst, dport if ports else None)}"
    else:
        ends = "–"
    bits: list[str] = []
    if proto == "TCP":
        flags = m[TCPFLAGS]
        names = [n for bit, n in TCP_FLAG_NAMES if flags & bit]
        if names:
            bits.append("[" + " ".join(names) + "]")
    off = m[PAYLOAD_OFF]
    payload = bytes(row.data[off:]) if off is not None and off >= 0 else b""
    if payload:
        name = _dns_name(payload) if proto == "UDP" and (sport in DNS_PORTS or dport in DNS_PORTS) else None
        if name:
            bits.append(f"DNS {name}")
        else:
            text = _preview(payload)
            bits.append(text if text else f"{len(payload)} B payload")
    if m[STATUS]:
        bits.append("(truncated)" if m[STATUS] == 1 else "(malformed)")
    if not bits:
        bits.append(" / ".join(stack))
    return ends, proto, " ".join(bits)

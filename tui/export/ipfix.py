"""IPFIX (RFC 7011) flow records over UDP.

Each record is one direction of a flow (a uniflow, as NetFlow collectors expect): the
flow's src -> dst counts, then dst -> src as its own record.  Two templates, IPv4 (256)
and IPv6 (257), with standard Information Elements and sockscope's own as
enterprise-specific, variable-length strings.

Enterprise number: 32473, which IANA reserves for documentation and examples (RFC 5612).
sockscope has no Private Enterprise Number of its own; 32473 can never clash with a real
vendor's fields, and a collector configured for it decodes them (README, "Many hosts").

UDP carries no acknowledgement: templates are sent first and then again every
``template_interval`` seconds (RFC 7011 section 10.3.6), so a collector that starts
later learns them.  A collector that is not listening answers with ICMP port
unreachable, which a connected UDP socket reports as ECONNREFUSED on a later send: the
records of that message are counted as failed and sending goes on.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tui.export.stats import ExportStats
from tui.export.tracker import ACTIVE, CLOSED, END_OF_CAPTURE, EVICTED, IDLE, FlowRecord

VERSION = 10
PEN = 32473  # IANA's documentation/example enterprise number (RFC 5612)
TEMPLATE_V4 = 256
TEMPLATE_V6 = 257
MAX_MESSAGE = 1400  # below a 1500-byte MTU with IP and UDP headers: no fragments
VARLEN = 0xFFFF

# Standard IEs: (id, length)
SRC4, DST4, SRC6, DST6 = (8, 4), (12, 4), (27, 16), (28, 16)
SPORT, DPORT, PROTO = (7, 2), (11, 2), (4, 1)
OCTETS, PACKETS = (1, 8), (2, 8)
START_MS, END_MS = (152, 8), (153, 8)
END_REASON = (136, 1)
INGRESS_IF = (10, 4)
FLOW_ID = (148, 8)

# Enterprise-specific IEs (PEN 32473), all variable-length UTF-8 strings.
ENTERPRISE_FIELDS = {1: "use_case", 2: "app", 3: "reason", 4: "process", 5: "container", 6: "name", 7: "user"}

# flowEndReason values (IANA registry for IE 136).
END_REASONS = {IDLE: 1, ACTIVE: 2, CLOSED: 3, END_OF_CAPTURE: 4, EVICTED: 5}

PROTOCOL_NUMBERS = {
    "ICMP": 1, "IGMP": 2, "IPIP": 4, "TCP": 6, "UDP": 17, "IPv6-in-IPv4": 41, "GRE": 47, "ESP": 50, "AH": 51,
    "ICMPv6": 58, "EIGRP": 88, "OSPF": 89, "PIM": 103, "VRRP": 112, "L2TP": 115, "SCTP": 132, "UDP-Lite": 136,
}  # fmt: skip


def protocol_number(name: str) -> int:
    """The IP protocol number of a decoder protocol name (``IP-N`` for the unnamed)."""
    n = PROTOCOL_NUMBERS.get(name)
    if n is not None:
        return n
    if name.startswith("IP-") and name[3:].isdigit():
        return int(name[3:]) & 0xFF
    return 255  # reserved: not a transport we can name


def _fields(v6: bool) -> list[tuple[int, int]]:
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    return [src, dst, SPORT, DPORT, PROTO, OCTETS, PACKETS, START_MS, END_MS, END_REASON, INGRESS_IF, FLOW_ID]


def template_set() -> bytes:
    """The template set (ID 2) holding both templates."""
    body = b""
    for tid, v6 in ((TEMPLATE_V4, False), (TEMPLATE_V6, True)):
        std = _fields(v6)
        rec = struct.pack("!HH", tid, len(std) + len(ENTERPRISE_FIELDS))
        for ie, length in std:
            rec += struct.pack("!HH", ie, length)
        for ie in ENTERPRISE_FIELDS:
            rec += struct.pack("!HHI", 0x8000 | ie, VARLEN, PEN)
        body += rec
    return struct.pack("!HH", 2, 4 + len(body)) + body


_LEN1 = [bytes((n,)) for n in range(255)]  # one-byte lengths, made once
_FIXED = struct.Struct("!HHBQQQQBIQ")  # ports to flowId: the standard fields after the addresses


def _varlen(text: str | None) -> bytes:
    """An IPFIX variable-length field (RFC 7011 section 7): one length byte, or 255 and two."""
    if not text:
        return b"\0"
    raw = text.encode("utf-8", "replace")[:65535]
    n = len(raw)
    if n < 255:
        return _LEN1[n] + raw
    return b"\xff" + struct.pack("!H", n) + raw


@dataclass(frozen=True, slots=True)
class DataRecord:
    """One uniflow record ready to encode: its template and bytes."""

    template: int
    data: bytes


def _addr(text: str, v6: bool) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, text)


def data_records(r: FlowRecord) -> Iterator[DataRecord]:
    """The uniflow records of one flow record (none for a flow that is not IP)."""
    v = r.delta.view
    if v.family not in (4, 6):
        return
    v6 = v.family == 6
    if r.raw is not None and len(r.raw[0]) == len(r.raw[1]) == (16 if v6 else 4):
        a, b = r.raw
    else:
        try:
            a, b = _addr(v.src, v6), _addr(v.dst, v6)
        except OSError:
            return
    tid = TEMPLATE_V6 if v6 else TEMPLATE_V4
    proto = protocol_number(v.proto)
    start_ms = int(r.start * 1000)
    end_ms = int(v.last_seen * 1000)
    reason = END_REASONS.get(r.reason, 0)
    # In the order of ENTERPRISE_FIELDS (1 use case ... 7 user).
    strings = (_varlen(v.use_case) + _varlen(v.app) + _varlen(v.reason) + _varlen(v.process) + _varlen(v.container)
               + _varlen(v.name) + _varlen(v.user))  # fmt: skip
    d = r.delta
    pack = _FIXED.pack
    ifindex = v.ifindex & 0xFFFFFFFF
    sport, dport = v.sport or 0, v.dport or 0
    if d.packets_ab:
        yield DataRecord(tid, a + b + pack(sport, dport, proto, d.bytes_ab, d.packets_ab, start_ms, end_ms, reason,
                                          ifindex, v.id) + strings)  # fmt: skip
    if d.packets_ba:
        yield DataRecord(tid, b + a + pack(dport, sport, proto, d.bytes_ba, d.packets_ba, start_ms, end_ms, reason,
                                          ifindex, v.id) + strings)  # fmt: skip


def messages(
    records: Iterable[DataRecord], seq: int, domain: int, with_templates: bool, export_time: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """IPFIX messages (at most MAX_MESSAGE bytes each) and the data records in each.

    ``seq`` is the number of data records sent before, per RFC 7011 section 3.1.
    """
    now = int(time.time()) if export_time is None else export_time
    pending: list[DataRecord] = []
    size = 16 + (len(template_set()) if with_templates else 0)
    templates = with_templates

    def build() -> tuple[bytes, int]:
        nonlocal templates
        body = template_set() if templates else b""
        templates = False
        i = 0
        while i < len(pending):
            tid = pending[i].template
            j = i
            while j < len(pending) and pending[j].template == tid:
                j += 1
            recs = b"".join(x.data for x in pending[i:j])
            body += struct.pack("!HH", tid, 4 + len(recs)) + recs
            i = j
        head = struct.pack("!HHIII", VERSION, 16 + len(body), now, seq & 0xFFFFFFFF, domain)
        return head + body, len(pending)

    for rec in records:
        extra = len(rec.data) + 4  # a set header each, at worst
        if pending and size + extra > MAX_MESSAGE:
            msg, n = build()
            yield msg, n
            seq += n
            pending = []
            size = 16
        pending.append(rec)
        size += extra
    if pending or templates:
        yield build()


class IpfixExporter:
    """Sends records to one collector over a connected UDP socket; never raises on I/O."""

    def __init__(
        self, host: str, port: int, stats: ExportStats, domain: int = 0, template_interval: float = 60.0, log=None
    ) -> None:
        self.stats = stats
        self.domain = domain
        self.template_interval = template_interval
        self._log = log or (lambda msg: print(f"sockscope export: {msg}", file=sys.stderr, flush=True))
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)  # gaierror: the caller says so
        family, _, _, _, addr = infos[0]
        self.address = addr
        self.target = f"{host}:{port}"
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.connect(addr)
        self._sock.setblocking(False)  # a full send buffer drops a message instead of waiting
        self._seq = 0
        self._next_templates = 0.0
        self._failing: str | None = None  # why sends fail, while they do
        self._next_report = 0.0
        self._last_sent = 0  # data records in the last message that went out
        self.skipped = 0  # records of flows that are not IP (IPFIX has no template for them)

    def send(self, records: list[FlowRecord]) -> None:
        data: list[DataRecord] = []
        for r in records:
            got = list(data_records(r))
            if not got and r.delta.packets:
                self.skipped += 1  # not IP: no template for it
            data.extend(got)
        self._check_refused()
        now = time.monotonic()
        templates = now >= self._next_templates
        if not data and not templates:
            return
        for msg, n in messages(data, self._seq, self.domain, templates):
            # Numbered whether or not it gets through: a collector sees a lost message as a gap.
            self._seq += n
            try:
                self._sock.send(msg)
            except OSError as exc:
                self._failed(n, exc.errno)
                continue
            self.stats.sent += n
            self._last_sent = n
            if templates:
                self._next_templates = now + self.template_interval
                templates = False

    def _check_refused(self) -> None:
        """An ICMP error that came back for an earlier datagram waits on the socket: the last
        message did not reach a collector, so its records move from sent to failed.  No
        error after a send since the last failure: the collector is back."""
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not err:
            if self._failing is not None and self._last_sent:
                self._log(f"sending IPFIX to {self.target} again ({self.stats.failed} records not sent so far)")
                self._failing = None
            return
        n, self._last_sent = self._last_sent, 0
        self.stats.sent -= n
        self._failed(n, err)

    def _failed(self, n: int, err: int | None) -> None:
        self.stats.failed += n
        self.stats.errors += 1
        self._next_templates = 0.0  # whoever listens next needs them
        if err == errno.ECONNREFUSED:
            why = "nothing listens there (ICMP port unreachable)"
        elif err in (errno.EAGAIN, errno.ENOBUFS):
            why = "the send buffer is full"
        else:
            why = os.strerror(err) if err else "unknown error"
        now = time.monotonic()
        if self._failing != why:
            self._log(f"cannot send IPFIX to {self.target}: {why}; records are counted as not sent, sending goes on")
            self._failing, self._next_report = why, now + 60.0
        elif now >= self._next_report:
            self._log(f"still cannot send IPFIX to {self.target}: {self.stats.failed} records not sent so far")
            self._next_report = now + 60.0

    def close(self, settle: float = 0.2) -> None:
        """Close after ``settle`` seconds, time for an ICMP error about the last message."""
        if self._last_sent and settle > 0:
            time.sleep(settle)
            self._check_refused()
        self._sock.close()

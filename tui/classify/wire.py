"""Bounded, never-raising parsers for the parts of a payload the classifier reads.

Every function takes the frame ``data`` and the offset where the transport payload
starts, reads with ``struct`` inside explicit bounds and returns ``None`` (or an empty
result) when the bytes do not fit.  Hostile input (lengths past the end, compression
loops, over-long names) gives ``None``, never an exception.
"""

from __future__ import annotations

from struct import Struct

_H = Struct("!H")
_HH = Struct("!HH")
_I = Struct("!I")
_DNS_HDR = Struct("!HHHHHH")
_RR = Struct("!HHIH")

MAX_NAME = 253  # longest legal DNS name in text form
MAX_DNS_RECORDS = 32  # answers parsed per message
_MAX_POINTERS = 16  # compression pointers followed per name


def text_name(raw: bytes) -> str | None:
    """A host name from the wire as lower-case text, or None when it is not a plausible name."""
    if not raw or len(raw) > MAX_NAME:
        return None
    try:
        name = raw.decode("ascii").lower().rstrip(".")
    except UnicodeDecodeError:
        return None
    if not name or not name.isprintable() or " " in name:
        return None
    return name


# ---------------------------------------------------------------------------- TLS
def tls_record_len(data: bytes, off: int) -> int:
    """Length of the handshake record starting at ``off`` (0 when it is not a TLS handshake record)."""
    if len(data) - off < 5 or data[off] != 0x16 or data[off + 1] != 3 or data[off + 2] > 4:
        return 0
    return _H.unpack_from(data, off + 3)[0]


def tls_handshake(buf: bytes) -> tuple[bytes, bool] | None:
    """The first handshake message gathered from a TLS record stream, and whether it is complete.

    A ClientHello may span several records and TCP segments; the caller keeps
    appending segments (bounded) until this says complete.  None: not a handshake.
    """
    n = len(buf)
    if n < 5 or buf[0] != 0x16 or buf[1] != 3:
        return None
    rlen = _H.unpack_from(buf, 3)[0]
    if 4 <= rlen <= n - 5 and 4 + int.from_bytes(buf[6:9], "big") <= rlen:
        # The usual case: the first record holds the whole message; later records add nothing to it.
        return bytes(buf[5 : 5 + rlen]), True
    hs = bytearray()
    p = 0
    while p + 5 <= n and len(hs) < 65536:
        if buf[p] != 0x16 or buf[p + 1] != 3:
            break
        rlen = _H.unpack_from(buf, p + 3)[0]
        hs += buf[p + 5 : p + 5 + rlen]
        p += 5 + rlen
    if len(hs) < 4:
        return bytes(hs), False
    return bytes(hs), len(hs) >= 4 + int.from_bytes(hs[1:4], "big")


def _hello_extensions(hs: bytes, off: int, n: int) -> tuple[int, int] | None:
    """Where the extensions of the ClientHello at ``hs[off:n]`` lie: (first, end), an empty range
    when it has none, or None when it is no ClientHello or ends before them."""
    if n - off < 4 + 38 or hs[off] != 1:
        return None
    end = min(n, off + 4 + ((hs[off + 1] << 16) | (hs[off + 2] << 8) | hs[off + 3]))
    p = off + 4 + 2 + 32  # version, random
    if p >= end:
        return None
    p += 1 + hs[p]  # session id
    if p + 2 > end:
        return None
    p += 2 + _H.unpack_from(hs, p)[0]  # cipher suites
    if p + 1 > end:
        return None
    p += 1 + hs[p]  # compression methods
    if p + 2 > end:
        return (p, p)
    return (p + 2, min(end, p + 2 + _H.unpack_from(hs, p)[0]))


def client_hello_body(hs: bytes) -> tuple[str | None, tuple[str, ...]] | None:
    """(SNI, ALPN) from a handshake message (type, 3-byte length, body), as in TLS or QUIC CRYPTO."""
    where = _hello_extensions(hs, 0, len(hs))
    if where is None:
        return None
    p, ext_end = where
    sni: str | None = None
    alpn: list[str] = []
    while p + 4 <= ext_end:
        etype, elen = _HH.unpack_from(hs, p)
        p += 4
        e_end = p + elen
        if e_end > ext_end:
            break
        if etype == 0 and p + 5 <= e_end:  # server_name: list len, type, name len, name
            if hs[p + 2] == 0:
                nlen = _H.unpack_from(hs, p + 3)[0]
                if p + 5 + nlen <= e_end:
                    sni = text_name(hs[p + 5 : p + 5 + nlen])
        elif etype == 16 and p + 2 <= e_end:  # ALPN
            q = p + 2
            while q < e_end and len(alpn) < 8:
                ln = hs[q]
                if q + 1 + ln > e_end:
                    break
                alpn.append(hs[q + 1 : q + 1 + ln].decode("ascii", "replace"))
                q += 1 + ln
        p = e_end
    return (sni, tuple(alpn))


def client_hello_sni(hs: bytes, off: int = 0, stop: int | None = None, names: dict | None = None) -> str | None:
    """The SNI of a handshake message, as ``client_hello_body(hs[off:stop])[0]`` but stopping at the name.

    ``off``/``stop`` let a caller read the message in place (inside a TLS record) without a copy.
    ``names`` (the caller's, bounded by it): ``text_name`` of the name's bytes, memoised, so
    the same server's name is decoded once and its flows share one string.

    The classifier needs only the name; walking the remaining extensions (ALPN, key shares,
    padding) cost more than everything else it does with a ClientHello.
    """
    where = _hello_extensions(hs, off, len(hs) if stop is None else min(stop, len(hs)))
    if where is None:
        return None
    return extensions_sni(hs, where[0], where[1], names)


def extensions_sni(hs: bytes, p: int, ext_end: int, names: dict | None = None) -> str | None:
    """The SNI in the hello extensions at hs[p:ext_end] (``client_hello_sni`` once they are found)."""
    unpack = _HH.unpack_from
    while p + 4 <= ext_end:
        etype, elen = unpack(hs, p)
        p += 4
        e_end = p + elen
        if e_end > ext_end:
            break
        if etype == 0 and p + 5 <= e_end and hs[p + 2] == 0:  # server_name: list len, type, name len, name
            nlen = _H.unpack_from(hs, p + 3)[0]
            if p + 5 + nlen <= e_end:
                raw = hs[p + 5 : p + 5 + nlen]
                if names is None:
                    sni = text_name(raw)
                else:
                    sni = names.get(raw, _NO_NAME)
                    if sni is _NO_NAME:
                        sni = names[raw] = text_name(raw)
                if sni is not None:
                    return sni
        p = e_end
    return None


_NO_NAME = object()


def tls_app_record(data: bytes, off: int) -> bool:
    """A TLS record header (any content type) at ``off``: lets a mid-stream capture be recognised."""
    if len(data) - off < 5:
        return False
    ct = data[off]
    return 20 <= ct <= 23 and data[off + 1] == 3 and data[off + 2] <= 4 and _H.unpack_from(data, off + 3)[0] <= 18432


# ---------------------------------------------------------------------------- DNS
def dns_name(data: bytes, start: int, off: int) -> tuple[str | None, int]:
    """Read a (possibly compressed) name at ``off`` in the message at ``start``.

    Returns (name, offset after the name in place) or (None, -1) when malformed:
    pointer loops, labels past the end and over-long names all end the walk.
    """
    n = len(data)
    labels: list[bytes] = []
    total = 0
    after = -1
    jumps = 0
    p = off
    while True:
        if p >= n:
            return None, -1
        ln = data[p]
        if ln == 0:
            p += 1
            break
        if ln & 0xC0 == 0xC0:
            if p + 2 > n:
                return None, -1
            if after < 0:
                after = p + 2
            jumps += 1
            target = start + (_H.unpack_from(data, p)[0] & 0x3FFF)
            if jumps > _MAX_POINTERS or target >= p:  # pointers must point backwards: no loops
                return None, -1
            p = target
            continue
        if ln & 0xC0:
            return None, -1
        if p + 1 + ln > n:
            return None, -1
        total += ln + 1
        if total > MAX_NAME + 1:
            return None, -1
        labels.append(data[p + 1 : p + 1 + ln])
        p += 1 + ln
    if after < 0:
        after = p
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        name = b".".join(labels).decode("latin-1").lower()
    return name, after


def _plain_first(data: bytes, start: int, p: int, n: int, names: dict | None) -> tuple[str | None, int, bool]:
    """``dns_name`` for the question, quicker when it is labels only; third: whether it was.

    ``names`` (the caller's, bounded by it; None: none) maps the bytes of a question of plain
    labels up to its first zero byte, the name's end, to its text, so a name asked again is not
    walked again: the same bytes up to that zero walk to the same labels and the same end.
    """
    key = None
    if names is not None:
        z = data.find(0, p, n)
        if z > p:
            key = data[p:z]
            name = names.get(key)
            if name is not None:
                return name, z + 1, True
    labels = []
    q = p
    ln = -1
    while q < n:
        ln = data[q]
        if ln == 0 or ln & 0xC0:
            break
        nq = q + 1 + ln
        if nq > n:
            break
        labels.append(data[q + 1 : nq])
        q = nq
    if ln != 0 or q >= n or q - p > MAX_NAME + 1:  # compressed, cut short or too long: the full walk
        name, after = dns_name(data, start, p)
        return name, after, False
    try:
        name = b".".join(labels).decode("ascii").lower()
    except UnicodeDecodeError:
        name = b".".join(labels).decode("latin-1").lower()
    if key is not None and z == q:  # no zero byte inside a label: the key ends where the name does
        names[key] = name
    return name, q + 1, True


def dns_message(data: bytes, off: int, names: dict | None = None) -> tuple[bool, str | None, list[bytes]] | None:
    """(is_response, first question name, answer addresses) of a DNS message, or None.

    Plausibility checks (opcode, counts, a question that parses) keep random UDP
    payloads from passing as DNS.  ``names``: a memo of question names (``_plain_first``).
    """
    n = len(data)
    if n - off < 12:
        return None
    _id, flags, qd, an, ns, ar = _DNS_HDR.unpack_from(data, off)
    opcode = (flags >> 11) & 0xF
    if opcode > 5 or qd > 4 or an > 256 or ns > 256 or ar > 256 or (flags & 0x0040):
        return None
    is_resp = bool(flags & 0x8000)
    if qd == 0 and (not is_resp or an == 0):
        return None
    p = q0 = off + 12
    qname: str | None = None
    plain = False
    for i in range(qd):
        if i == 0:
            name, p, plain = _plain_first(data, off, p, n, names)
        else:
            name, p = dns_name(data, off, p)
        if name is None or p + 4 > n:
            return None
        qtype, qclass = _HH.unpack_from(data, p)
        if qclass & 0x7FFF not in (1, 3, 4, 254, 255) or qtype == 0:
            return None
        p += 4
        if qname is None:
            qname = name
    addrs: list[bytes] = []
    if is_resp:
        # Answers usually name the question by a pointer to it: when the question is plain labels
        # (already walked above), such a pointer is skipped without walking the name again.
        for _ in range(min(an, MAX_DNS_RECORDS)):
            if plain and p + 2 <= n and data[p] & 0xC0 == 0xC0 and off + ((data[p] & 0x3F) << 8 | data[p + 1]) == q0:
                p += 2
            else:
                _name, p = dns_name(data, off, p)
            if p < 0 or p + 10 > n:
                break
            rtype, _cls, _ttl, rdlen = _RR.unpack_from(data, p)
            p += 10
            if p + rdlen > n:
                break
            if (rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16):
                addrs.append(bytes(data[p : p + rdlen]))
            p += rdlen
    return is_resp, qname, addrs


# ---------------------------------------------------------------------------- HTTP
HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    b"PROPFIND ",
)


def http_request(data: bytes, off: int) -> tuple[str, str, str | None, str | None] | None:
    """(method, target, Host, User-Agent) of an HTTP/1.x request head, or None."""
    head = data[off : off + 4096]
    if not head.startswith(HTTP_METHODS):
        return None
    line_end = head.find(b"\r\n")
    first = head if line_end < 0 else head[:line_end]
    parts = first.split(b" ")
    if len(parts) < 2:
        return None
    if len(parts) >= 3 and not parts[-1].startswith(b"HTTP/") and line_end >= 0:
        return None
    method = parts[0].decode("ascii", "replace")
    target = parts[1][:512].decode("latin-1")
    low = head.lower()
    host = _header(head, b"\nhost:", low)
    if host is not None:
        host = text_name(host.rsplit(":", 1)[0].encode("latin-1") if host.count(":") == 1 else host.encode("latin-1"))
    ua = _header(head, b"\nuser-agent:", low)
    return method, target, host, ua


def http_response(data: bytes, off: int) -> tuple[int, str | None] | None:
    """(status, Content-Type) of an HTTP/1.x response head, or None."""
    head = data[off : off + 4096]
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        return None
    try:
        status = int(head[9:12])
    except ValueError:
        return None
    return status, _header(head, b"\ncontent-type:")


def _header(head: bytes, name: bytes, low: bytes | None = None) -> str | None:
    i = (low if low is not None else head.lower()).find(name)
    if i < 0:
        return None
    j = head.find(b"\r\n", i + 1)
    raw = head[i + len(name) : j if j >= 0 else len(head)].strip()
    return raw[:256].decode("latin-1").lower() or None


# ---------------------------------------------------------------------------- FTP
def ftp_endpoint(line: bytes) -> tuple[bytes | None, int] | None:
    """(IPv4 address or None, port) announced by PASV/EPSV replies or PORT/EPRT commands."""
    try:
        if line.startswith(b"227"):
            a = line.find(b"(")
            b = line.find(b")", a)
            nums = line[a + 1 : b].split(b",") if a >= 0 and b > a else line[4:].strip().split(b",")
            v = [int(x) for x in nums[-6:]]
            if len(v) == 6 and all(0 <= x <= 255 for x in v):
                return bytes(v[:4]), v[4] * 256 + v[5]
        elif line.startswith(b"229"):
            a = line.find(b"(|||")
            b = line.find(b"|)", a)
            if a >= 0 and b > a:
                port = int(line[a + 4 : b])
                if 0 < port < 65536:
                    return None, port
        elif line[:5].upper() == b"PORT ":
            v = [int(x) for x in line[5:].strip().split(b",")]
            if len(v) == 6 and all(0 <= x <= 255 for x in v):
                return bytes(v[:4]), v[4] * 256 + v[5]
        elif line[:5].upper() == b"EPRT ":
            fields = line[5:].strip().split(line[5:6] or b"|")
            port = int(fields[3])
            if 0 < port < 65536:
                return None, port
    except (ValueError, IndexError):
        return None
    return None


# ---------------------------------------------------------------------------- small binary checks
def stun(data: bytes, off: int) -> bool:
    """A STUN/TURN message (RFC 5389 magic cookie, length consistent) or a TURN ChannelData frame."""
    n = len(data) - off
    if n < 20:
        return False
    mtype, mlen = _HH.unpack_from(data, off)
    if mtype & 0xC000 or mlen & 3 or mlen + 20 != n:
        return False
    return _I.unpack_from(data, off + 4)[0] == 0x2112A442 or mtype in (0x0001, 0x0101, 0x0111)


def rtp(data: bytes, off: int) -> str | None:
    """'RTP' or 'RTCP' when the payload has a plausible version-2 header, else None."""
    n = len(data) - off
    if n < 12 or data[off] & 0xC0 != 0x80:
        return None
    pt = data[off + 1]
    if 200 <= pt <= 206 and n >= 8:
        length = (_H.unpack_from(data, off + 2)[0] + 1) * 4
        return "RTCP" if length <= n else None
    pt &= 0x7F
    if pt <= 34 or 96 <= pt <= 127:
        return "RTP"
    return None


def rtp_ssrc(data: bytes, off: int) -> int:
    return _I.unpack_from(data, off + 8)[0] if len(data) - off >= 12 else -1


def mqtt_connect(data: bytes, off: int) -> bool:
    """An MQTT CONNECT packet (fixed header 0x10, protocol name MQTT or MQIsdp)."""
    n = len(data)
    if n - off < 8 or data[off] != 0x10:
        return False
    p = off + 1
    for _ in range(4):  # remaining length varint
        if p >= n:
            return False
        if not data[p] & 0x80:
            break
        p += 1
    p += 1
    return data[p : p + 6] == b"\x00\x04MQTT" or data[p : p + 8] == b"\x00\x06MQIsdp"


def bencoded_dht(data: bytes, off: int) -> bool:
    """A BitTorrent DHT (KRPC) message: a bencoded dict with a query, response or error."""
    head = data[off : off + 64]
    return head.startswith(b"d1:") and (b"1:y1:" in data[off : off + 2048] or head[3:5] in (b"ad", b"rd", b"q4", b"t"))


def rtmp_handshake(data: bytes, off: int) -> bool:
    """RTMP C0+C1: version byte 3 followed by 1536 bytes of handshake (possibly split)."""
    n = len(data) - off
    return n >= 9 and data[off] == 3 and data[off + 5 : off + 9] == b"\x00\x00\x00\x00" and n in (1537, 1536 + 1)


def ssdp(data: bytes, off: int) -> bool:
    return data.startswith((b"M-SEARCH * HTTP/1.", b"NOTIFY * HTTP/1."), off) or (
        data.startswith(b"HTTP/1.1 200 OK\r\n", off) and b"\nst:" in data[off : off + 1024].lower()
    )


_CN_OID = b"\x06\x03\x55\x04\x03"


def cert_host(data: bytes, off: int) -> str | None:
    """The first host-like common name in X.509 certificate bytes (a TLS 1.2 Certificate message).

    Issuer names come first in a certificate but are rarely host names ("R3",
    "DigiCert SHA2 ..."), so the first CN that parses as a dotted name is the server's.
    """
    p = off
    for _ in range(8):
        i = data.find(_CN_OID, p)
        if i < 0 or i + 7 > len(data):
            return None
        tag, ln = data[i + 5], data[i + 6]
        p = i + 7
        if tag in (0x0C, 0x13, 0x16) and ln < 128 and p + ln <= len(data):
            name = text_name(bytes(data[p : p + ln]))
            if name and "." in name and name.replace("*.", "", 1).replace("-", "").replace(".", "").isalnum():
                return name
    return None

"""TLS (RFC 8446, 5246) and DTLS (RFC 6347, 9147): the ClientHello's SNI and ALPN, else the server's certificate.

A flow's use case comes from its name (SNI, matched against [[names]]); the ALPN offer
(RFC 7301, detectors/alpn.py) tells it when the name is missing, matches no rule or only a
web one.  Without a usable SNI (none, or an IP literal, which RFC 6066 3 forbids) a TLS 1.2
server's flight names the server in clear: ServerHello (its chosen ALPN, or
supported_versions 0x0304: TLS 1.3, where all that follows is encrypted) then Certificate,
whose first entry is the server's own (RFC 5246 7.4.2).  That flight spans several TCP
segments; it is reassembled up to CERT_BUFFER bytes.

The classifier's own shortcut for a whole ClientHello with SNI on a flow's first payload
(``Classifier._tls_first``) stays in classifier.py, inline on the hot path; this is the
general path it agrees with (``hello_alpn_hit`` is the ALPN step both take).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui.classify import wire
from tui.classify.detectors import alpn, x509

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState
    from tui.classify.rules import Rule

TLS_BUFFER = 16_384  # most bytes kept to reassemble a split ClientHello
# commonName (OID 2.5.4.3), UTF8String, 14 bytes: "AnyDesk Client"
ANYDESK_CN = b"\x06\x03\x55\x04\x03\x0c\x0eAnyDesk Client"
CERT_BUFFER = 16_384  # most bytes of the server's flight kept to find its first certificate
_TLS13 = 0x0304


def ip_literal(name: str) -> bool:
    """An SNI that is an address, not a name (dotted digits, or IPv6 with its colons)."""
    return ":" in name or name.replace(".", "").isdigit()


def hello_alpn_hit(hs: bytes, off: int, stop: int) -> tuple[Rule, str] | None:
    """The ALPN hit (detectors/alpn.py) of the ClientHello at hs[off:stop], or None."""
    where = wire._hello_extensions(hs, off, stop)
    if where is None:
        return None
    return alpn.offer_hit(alpn.hello_alpn(hs, where[0], where[1]))


def better(current: tuple[Rule, str] | None, new: tuple[Rule, str] | None) -> bool:
    """Whether evidence ``new`` replaces ``current``: a name rule that says only "web" yields to one
    that says more (an ALPN that means mail, a certificate name of a voice service)."""
    return new is not None and (current is None or (current[0].use_case == "web" and new[0].use_case != "web"))


@dataclass(slots=True)
class ServerFlight:
    """What a server's first handshake records showed in clear."""

    selected: str | None = None  # the ALPN protocol the ServerHello chose
    tls13: bool = False  # the ServerHello chose TLS 1.3: the certificate is encrypted
    names: list[str] = field(default_factory=list)  # the first certificate's names so far
    done: bool = False  # nothing more to learn: the whole first certificate, or none will come
    handshake: bool = True  # the bytes began with a handshake record


def server_flight(buf: bytes) -> ServerFlight:
    """Parse the server's records as far as they go (bounded; never raises)."""
    out = ServerFlight()
    n = len(buf)
    if n < 5 or buf[0] != 0x16 or buf[1] != 3:
        out.handshake = False
        out.done = True
        return out
    hs = bytearray()
    p = 0
    closed = False  # a record other than handshake came: the clear flight is over
    for _ in range(64):
        if p + 5 > n:
            break
        if buf[p] != 0x16:
            closed = True
            break
        rlen = (buf[p + 3] << 8) | buf[p + 4]
        hs += buf[p + 5 : p + 5 + rlen]
        p += 5 + rlen
    q = 0
    m = len(hs)
    for _ in range(16):
        if q + 4 > m:
            out.done = closed
            return out
        htype = hs[q]
        hlen = (hs[q + 1] << 16) | (hs[q + 2] << 8) | hs[q + 3]
        body = q + 4
        if htype == 2:  # ServerHello
            if body + hlen > m:
                out.done = closed
                return out
            _server_hello(hs, body, body + hlen, out)
            if out.tls13:
                out.done = True
                return out
        elif htype == 11:  # Certificate: 3-byte list length, then 3-byte length + DER per entry
            if body + 6 > m:
                out.done = closed
                return out
            clen = (hs[body + 3] << 16) | (hs[body + 4] << 8) | hs[body + 5]
            start = body + 6
            out.names = x509.cert_names(hs, start, start + clen)
            out.done = closed or start + clen <= m
            return out
        elif htype in (12, 13, 14) or htype > 24:  # key exchange, request, done: no certificate
            out.done = True
            return out
        q = body + hlen
    out.done = True
    return out


def _server_hello(hs: bytes, p: int, end: int, out: ServerFlight) -> None:
    """The chosen ALPN and TLS version of a ServerHello body at hs[p:end]."""
    p += 2 + 32  # legacy version, random
    if p >= end:
        return
    p += 1 + hs[p] + 2 + 1  # session id, cipher suite, compression method
    if p + 2 > end:
        return
    ext_end = min(end, p + 2 + ((hs[p] << 8) | hs[p + 1]))
    p += 2
    for _ in range(32):
        if p + 4 > ext_end:
            return
        etype = (hs[p] << 8) | hs[p + 1]
        elen = (hs[p + 2] << 8) | hs[p + 3]
        p += 4
        if p + elen > ext_end:
            return
        if etype == 16:
            chosen = alpn.protocol_list(hs, p, p + elen)
            if chosen:
                out.selected = chosen[0]
        elif etype == 43 and elen == 2 and ((hs[p] << 8) | hs[p + 1]) == _TLS13:
            out.tls13 = True
        p += elen


def dtls_client_hello(pl: bytes) -> bytes | None:
    """A DTLS ClientHello (first fragment) rewritten as a TLS handshake message, or None.

    DTLS record: type, version, epoch (2), sequence (6), length (2); handshake header: type,
    length (3), message_seq (2), fragment_offset (3), fragment_length (3) (RFC 6347 4.3.2);
    the ClientHello body has a cookie after the session id, dropped here so the TLS
    extension walkers read it unchanged.
    """
    n = len(pl)
    if n < 13 + 12 + 38 or pl[13] != 1:
        return None
    rend = min(n, 13 + ((pl[11] << 8) | pl[12]))
    if pl[19:22] != b"\x00\x00\x00":  # not the first fragment
        return None
    flen = (pl[22] << 16) | (pl[23] << 8) | pl[24]
    body = bytes(pl[25 : min(rend, 25 + flen)])
    p = 2 + 32
    if p >= len(body):
        return None
    p += 1 + body[p]  # session id
    if p >= len(body):
        return None
    cut = p + 1 + body[p]  # cookie
    if cut > len(body):
        return None
    rest = body[:p] + body[cut:]
    return b"\x01" + len(rest).to_bytes(3, "big") + rest


_DTLS13 = 0xFEFC


def dtls_server_flight(pl: bytes, frags: dict[int, bytes], out: ServerFlight) -> None:
    """Add one server datagram to a DTLS flight: its ServerHello, and the Certificate's fragments.

    Each record (13-byte header) holds handshake fragments (12-byte header: type, length,
    message_seq, fragment_offset, fragment_length; RFC 6347 4.2.2); ``frags`` gathers the
    first Certificate's fragments by offset (bounded), ``out`` what is known so far.
    """
    n = len(pl)
    p = 0
    for _ in range(16):
        if p + 13 > n:
            return
        if pl[p] != 0x16 or pl[p + 1] != 0xFE:  # ChangeCipherSpec, Alert or encrypted data: the clear flight is over
            out.done = True
            return
        rend = min(n, p + 13 + ((pl[p + 11] << 8) | pl[p + 12]))
        q = p + 13
        for _k in range(16):
            if q + 12 > rend:
                break
            htype = pl[q]
            hlen = (pl[q + 1] << 16) | (pl[q + 2] << 8) | pl[q + 3]
            foff = (pl[q + 6] << 16) | (pl[q + 7] << 8) | pl[q + 8]
            flen = (pl[q + 9] << 16) | (pl[q + 10] << 8) | pl[q + 11]
            body = q + 12
            fend = min(rend, body + flen)
            if htype == 2 and foff == 0 and fend == body + hlen:
                _server_hello(pl, body, fend, out)
                if out.tls13:
                    out.done = True
                    return
            elif htype == 11 and foff < CERT_BUFFER and len(frags) < 32:
                frags[foff] = bytes(pl[body:fend])
                have = _run(frags)
                if len(have) >= 6:
                    clen = (have[3] << 16) | (have[4] << 8) | have[5]
                    out.names = x509.cert_names(have, 6, 6 + clen)
                    out.done = len(have) >= min(hlen, 6 + clen)
            elif htype in (12, 13, 14):  # after the Certificate, or none was sent
                out.done = True
            q = fend
        p = rend


def _run(frags: dict[int, bytes]) -> bytes:
    """The fragments' bytes from offset 0 as far as they run without a gap."""
    out = b""
    for _ in range(len(frags)):
        nxt = frags.get(len(out))
        if not nxt:
            nxt = next((c[len(out) - o :] for o, c in frags.items() if o < len(out) < o + len(c)), None)
            if not nxt:
                break
        out += nxt
    return out


class TlsHandling:
    """TLS handling of the Classifier (a mixin: it uses the classifier's verdict and name helpers).

    ``st.buf_from_src`` tells the client's side (it sent the ClientHello): the certificate
    comes from the other.  ``st.seen["tls_flight"]`` gathers the server's records.
    """

    def _tls_hello(self, flow, st: FlowState, from_src: bool) -> None:
        got = wire.tls_handshake(bytes(st.buf))
        if got is None:
            st.buf = None
            self._carrier(flow, st, "tls", "tls", decided=True)
            return
        hs, complete = got
        if not complete and len(st.buf) < TLS_BUFFER:
            self._carrier(flow, st, "tls", "tls", decided=False)
            return
        st.buf = None
        self._hello_done(flow, st, hs, from_src)

    def _hello_cut(self, flow, st: FlowState, pl: bytes) -> None:
        """The server answers while the ClientHello is incomplete (a segment lost, or dropped as
        padding): read what came of it (the SNI is near its start), then the server's bytes."""
        got = wire.tls_handshake(bytes(st.buf))
        st.buf = None
        client = st.buf_from_src
        if got is None or len(got[0]) < 4 + 38:
            self._carrier(flow, st, "tls", "tls", decided=True)
            return
        self._hello(flow, st, got[0], 0, len(got[0]), client)
        if st.want_cert:
            self._cert(flow, st, pl)

    def _hello_done(self, flow, st: FlowState, hs: bytes, from_src: bool) -> None:
        self._hello(flow, st, hs, 0, len(hs), from_src)

    def _hello_names(self, flow, st: FlowState, hs: bytes, off: int, stop: int, from_src: bool) -> str | None:
        """The SNI and ALPN of a ClientHello (TLS, DTLS or QUIC's) at hs[off:stop]: the SNI a host
        name learns, an IP-literal SNI only names the flow, the ALPN may say more than "web".
        Returns the usable SNI, or None."""
        sni = wire.client_hello_sni(hs, off, stop)
        if sni and ip_literal(sni):
            flow.name = sni
            sni = None
        if sni:
            self._learn_name(flow, st, sni, from_src)
        if st.name_hit is None or st.name_hit[0].use_case == "web":
            hit = hello_alpn_hit(hs, off, stop)
            if hit is not None:
                st.name_hit = hit
        return sni

    def _hello(self, flow, st: FlowState, hs: bytes, off: int, stop: int, from_src: bool) -> None:
        """A whole ClientHello at hs[off:stop]: its SNI names the flow, its ALPN may tell the use."""
        sni = self._hello_names(flow, st, hs, off, stop, from_src)
        if not sni:
            st.want_cert = True
            st.buf_from_src = from_src
        self._carrier(flow, st, "tls", "tls sni" if sni else "tls", decided=bool(sni))

    def _cert(self, flow, st: FlowState, pl: bytes) -> None:
        """The server's flight: its chosen ALPN, TLS 1.3 (then nothing more in clear), its certificate's names."""
        if self._client_cert(flow, st, pl):
            return
        seen = st.seen
        if seen is None:
            seen = st.seen = {}
        buf = seen.get("tls_flight")
        if buf is None:
            if pl[0] != 0x16:  # the capture began inside the flight: look for a name in this segment
                self._cert_scan(flow, st, pl)
                return
            buf = seen["tls_flight"] = bytearray()
        buf += pl[: CERT_BUFFER - len(buf)]
        fl = server_flight(bytes(buf))
        if fl.selected is not None:
            use = alpn.ALPN_USES.get(fl.selected)
            if use == "web" and st.name_hit is not None and st.name_hit[1].startswith("alpn "):
                st.name_hit = None  # the server chose the web protocol of the client's offer
            elif better(st.name_hit, alpn.ALPN_HITS.get(fl.selected)):
                st.name_hit = alpn.ALPN_HITS[fl.selected]
        if fl.names:
            self._cert_names(flow, st, fl.names)
        if fl.done or len(buf) >= CERT_BUFFER:
            self._flight_end(flow, st, fl, "tls_flight", "tls")

    def _cert_names(self, flow, st: FlowState, names: list[str]) -> None:
        """Name the flow after its certificate: the first name a rule knows, else the subject's."""
        flow.name = names[0]
        for name in names:
            hit = self._match(name[2:] if name.startswith("*.") else name)
            if hit is not None:
                flow.name = name
                if better(st.name_hit, hit):
                    st.name_hit = hit
                return

    def _cert_scan(self, flow, st: FlowState, pl: bytes) -> None:
        """A segment from the middle of the flight: the first host-like CN in it (issuers rarely are)."""
        name = wire.cert_host(pl, 0)
        if name is None:
            return
        st.want_cert = False
        flow.name = name
        hit = self._match(name)
        if better(st.name_hit, hit):
            st.name_hit = hit
        self._remember(flow.src if flow.sport < flow.dport else flow.dst, name)
        self._carrier(flow, st, "tls", "tls certificate", decided=True)

    def _client_cert(self, flow, st: FlowState, pl: bytes) -> bool:
        """Certificates that name the application, not a host: AnyDesk's peers and relays present
        self-signed certificates whose subject is CN "AnyDesk Client" (both ends, TLS 1.2, in clear)."""
        if pl.find(ANYDESK_CN, 0, 8192) < 0:
            return False
        st.want_cert = False
        self._signature(flow, st, "anydesk", "anydesk certificate")
        return True

    def _dtls(self, flow, st: FlowState, pl: bytes, from_src: bool) -> None:
        """A DTLS ClientHello: SNI and ALPN as in TLS (the server's flight is not awaited)."""
        hs = dtls_client_hello(pl)
        sni = None
        if hs is not None:
            sni = self._hello_names(flow, st, hs, 0, len(hs), from_src)
        if hs is not None and not sni:
            st.want_cert = True  # a DTLS 1.2 server sends its certificate in clear too
            st.buf_from_src = from_src
        self._carrier(flow, st, "dtls", "dtls sni" if sni else "dtls", decided=hs is None or bool(sni))

    def _dtls_cert(self, flow, st: FlowState, pl: bytes, from_src: bool) -> None:
        """A datagram of a DTLS flow waiting for the server's certificate (the client's are skipped)."""
        if from_src == st.buf_from_src or not 20 <= pl[0] <= 63:
            return  # the client's, or not DTLS (RFC 7983: STUN 0-3 and RTP 128-191 share the port)
        seen = st.seen
        if seen is None:
            seen = st.seen = {}
        got = seen.get("dtls_flight")
        if got is None:
            got = seen["dtls_flight"] = ({}, ServerFlight())
        frags, fl = got
        dtls_server_flight(pl, frags, fl)
        if fl.selected is not None and better(st.name_hit, alpn.ALPN_HITS.get(fl.selected)):
            st.name_hit = alpn.ALPN_HITS[fl.selected]
        if fl.names:
            self._cert_names(flow, st, fl.names)
        if fl.done:
            self._flight_end(flow, st, fl, "dtls_flight", "dtls")

    def _flight_end(self, flow, st: FlowState, fl: ServerFlight, key: str, carrier: str) -> None:
        """The server's clear flight is over: the server's address learns the certificate's name,
        and the flow is decided as ``carrier`` (tls or dtls)."""
        st.want_cert = False
        del st.seen[key]
        if fl.names:
            self._remember(flow.src if st.buf_from_src is False else flow.dst, flow.name)
        self._carrier(flow, st, carrier, f"{carrier} certificate" if fl.names else carrier, decided=True)

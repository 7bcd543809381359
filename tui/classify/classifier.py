"""The classifier the engine calls for the first packets of each flow.

Evidence, strongest first: payload signatures, names learned on the wire (SNI, Host,
DNS answers), well-known ports, then the protocol itself (ICMP, ARP, ...).  A carrier
protocol (TLS, QUIC, HTTP, DTLS) says little about use by itself, so its flows take
their use case from the name, else the port, else the carrier's own rule.

Cost is bounded: the engine shows a flow at most INSPECT_LIMIT packets; a flow is
decided as soon as its evidence cannot get better; caches (IP -> name, expected FTP
data connections) have fixed sizes.  Nothing here raises on hostile bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tui.classify import wire
from tui.classify.detectors import alpn, filexfer, voice
from tui.classify.detectors.banners import BANNER_FIRST, GREETED, BannerHandling
from tui.classify.detectors.dns import DNS_APPS, DNS_PORTS, DnsHandling
from tui.classify.detectors.ftp import FtpHandling, host_pair
from tui.classify.detectors.http import HTTP_FIRST, HttpHandling
from tui.classify.detectors.payloads import PayloadRules
from tui.classify.detectors.quic import QuicHandling
from tui.classify.detectors.specs import UDP_DETECTED, SpecHandling
from tui.classify.detectors.tls import TLS_BUFFER, TlsHandling, ip_literal
from tui.classify.rules import Rule, Rules
from tui.decode import PAYLOAD_OFF

NAME_CACHE = 65_536  # IP addresses whose names we remember
NAME_MATCHES = 8_192  # names whose rule match is memoised
PEER_CACHE = 8_192  # BitTorrent peers (address, port) seen in handshakes, uTP, DHT answers
PAYLOAD_LIMIT = 2  # payload packets without a signature before a flow settles
QUESTION_NAMES = 8_192  # DNS question names memoised by their wire bytes (cleared when full)
SNI_NAMES = 8_192  # TLS server names memoised by their wire bytes (cleared when full)

_MISSING = object()
# flow.scratch of a flow begun without payload and without a hint (its verdict from the ports
# is written); with a hint, the hint tuple itself stands in flow.scratch
_BEGUN = object()


class _DnsQuery:
    """flow.scratch of a flow begun by a DNS query (its verdict is written; the answer settles it)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


@dataclass(slots=True)
class FlowState:
    """What the classifier has learned about one flow so far (kept in ``flow.scratch``)."""

    port: tuple[Rule, int] | None = None
    hint: tuple[Rule, str] | None = None  # from a learned name or an FTP session between the same hosts
    sig: Rule | None = None  # a signature that names the application
    sig_detail: str = ""
    carrier: Rule | None = None  # TLS / QUIC / HTTP / DTLS
    carrier_label: str = ""
    name_hit: tuple[Rule, str] | None = None  # name rule matched by the carrier's own name (SNI, Host)
    content: Rule | None = None  # HTTP content type
    payloads: int = 0
    buf: bytearray | None = None  # TLS ClientHello reassembly
    buf_from_src: bool = True
    crypto: dict[int, bytes] | None = None  # QUIC CRYPTO frames by offset
    keys: dict | None = None
    initials: int = 0
    # What two-packet detectors saw first, made only for the flows that reach one (so most
    # states stay small): "rtp" + end (the last RTP header (pt, seq, ssrc) from that end, 1 the
    # flow's source, 2 its destination), "utp" (type, connection id), "tftp" (opcode, block),
    # "rtmp" and "source_engine", "teamviewer" (the end that sent the C0+C1 / the first datagram)
    seen: dict | None = None
    pending: bool = False  # a detector waits for a second packet (RTP, uTP, TFTP, RTMP)
    ftp: bool = False
    http_wait: bool = False
    want_cert: bool = False  # TLS without SNI: the server's certificate may name it


class Classifier(
    TlsHandling, DnsHandling, HttpHandling, QuicHandling, FtpHandling, BannerHandling, SpecHandling, PayloadRules
):
    """Fills flow.app / use_case / reason / name / decided from rules and the first packets."""

    payload_only = True  # after a flow's first packet, packets without payload teach nothing here
    # The commonest flows (a DNS query and its answer, a ClientHello with SNI) are decided by
    # dedicated shortcuts that give what the general path gives; False takes the general path
    # for every flow (tests compare the two).
    shortcuts = True

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        # Bounded caches evict their oldest entry: OrderedDict.popitem(last=False) is O(1), whereas
        # deleting a plain dict's first key rescans the deleted slots at its front (about 25 us per
        # eviction at 65k entries: a DNS flood with random names ran at a quarter of the speed).
        self.names: OrderedDict[bytes, str] = OrderedDict()  # IP address -> name learned from DNS, SNI or Host
        self.expected: OrderedDict[tuple[bytes, int], bool] = OrderedDict()  # FTP data endpoints (PASV/PORT)
        self.ftp_pairs: OrderedDict[tuple[bytes, bytes], bool] = OrderedDict()  # hosts with an FTP control session
        self._name_hits: OrderedDict[str, tuple[Rule, str] | None] = OrderedDict()  # name -> rule match
        # BitTorrent peers: a swarm's other connections (often encrypted, BEP 8 / MSE) go to
        # the endpoints its handshakes, uTP and DHT answers (BEP 5 compact peers) showed
        self.peers: OrderedDict[tuple[bytes, int], bool] = OrderedDict()
        # DNS answers' question names by their wire bytes (wire._plain_first): a name asked
        # again is neither walked nor decoded again, and its flows share one string
        self._qnames: dict[bytes, str] = {}
        self._snis: dict[bytes, str | None] = {}  # the same for ClientHellos' server names
        # reasons of flows decided by _tls_first, by the hit's (or hint's) pattern: one string
        # for all the flows of a pattern (patterns come from the rules, so these stay small)
        self._sni_reasons: dict[str, str] = {}
        self._hint_reasons: dict[str, str] = {}
        sig = rules.signatures
        self._sig = {k: sig.get(k) or Rule(k.upper(), "unknown", k) for k in _SIGNATURES}
        # Lookup tables built once from the rules, so a flow costs a dict lookup, not a scan:
        # transport -> port -> (rule, port), for the transports that have ports ...
        self._ports: dict[str, dict[int, tuple[Rule, int]]] = {"TCP": {}, "UDP": {}, "SCTP": {}}
        for (transport, port), rule in rules.ports.items():
            table = self._ports.get(transport)
            if table is not None:
                table[port] = (rule, port)
        self._ports["UDP-Lite"] = self._ports["UDP"]
        # ... and transport -> first payload byte -> the payload rules that can match, in
        # the order the rules index gives them (rules keyed by first byte, then the others).
        self._payload_tables: dict[str, tuple[dict, tuple]] = {}
        # learned name -> the hint it gives (rule, "learned name <pattern>"), memoised with _match
        self._hints: OrderedDict[str, tuple[Rule, str] | None] = OrderedDict()
        self._ftp_hint = (self._sig["ftp_data"], "ftp data: hosts of an ftp session")
        self._peer_hint = (self._sig["bittorrent"], "bittorrent peer seen before")
        self._tls = self._sig["tls"]
        self._nets = rules.networks  # CIDR -> (rule, "network <cidr>")
        self._has_nets = bool(rules.networks)  # once: NetworkTable.__bool__ is a Python call
        self._agents = rules.agents
        self._agent_prefixes = tuple(p for p, _rule in rules.agents)
        self._gate4 = rules.networks.v4.gate  # (an IPv4 /16 is selective enough on its own)
        self._gate6 = rules.networks.v6.gate
        self._fine6 = rules.networks.v6.fine
        # signatures that name a transport, not a service: a learned name or a network names it
        # (by identity: hashing a frozen dataclass costs a Python call)
        self._generic = frozenset(id(self._sig[k]) for k in ("stun", "rtp", "rtcp"))
        self._dns_marks = {k: _DnsQuery(k) for k in DNS_APPS}
        self._dns_reasons = {
            k: (f"{self._sig[k].reason}: dns query", f"{self._sig[k].reason}: dns response") for k in DNS_APPS
        }

    # ------------------------------------------------------------------ engine interface
    def observe(self, flow, meta: tuple, data: bytes, from_src: bool) -> None:
        """Look at one packet of an undecided flow.

        Handlers only gather evidence into the flow's state; the verdict is written once per
        packet at the end (``_apply``), and the state is dropped as soon as the flow is decided.
        Until a flow shows payload its state is a marker (the verdict from ports and a learned
        name is already written): most flows are then decided by the packet that creates their
        state, which so never outlives the call.
        """
        off = meta[PAYLOAD_OFF]
        proto = flow.proto
        pl = None
        if 0 <= off < len(data):
            if proto == "TCP":
                pl = data[off:]
                if len(pl) <= 6 and not any(pl):  # Ethernet padding after a bare ACK
                    pl = None
            elif proto == "UDP":
                ulen = (data[off - 4] << 8) | data[off - 3]
                end = off - 8 + ulen if ulen >= 8 else len(data)
                pl = data[off:end] or None
            else:
                pl = data[off:]
        st = flow.scratch
        if st is None:
            st = self._begin(flow, pl)
            if st is None:
                return
        elif pl is None:
            return
        elif st.__class__ is not FlowState:
            if st.__class__ is _DnsQuery:
                self._dns_answer(flow, st.kind, pl)
                return
            if pl[0] == 0x16 and proto == "TCP" and self.shortcuts and self._tls_first(flow, st, pl, from_src):
                return
            st = self._state(flow, st)
        try:
            if proto == "TCP":
                self._tcp(flow, st, pl, from_src)
            elif proto == "UDP":
                self._udp(flow, st, pl, from_src)
            else:
                self._payload_rules(flow, st, pl, proto)
        except (IndexError, ValueError, UnicodeError, OverflowError):  # defence in depth: never kill capture
            st.buf = None
            st.crypto = None
        n = st.payloads = st.payloads + 1
        if (
            n >= PAYLOAD_LIMIT
            and not flow.decided
            and st.buf is None
            and st.crypto is None
            and not (st.http_wait or st.ftp or st.want_cert or st.pending)
        ):  # nothing still arriving: a split ClientHello, QUIC Initials, an HTTP response, FTP commands,
            # the second packet a two-packet detector (RTP, uTP, TFTP, RTMP) needs
            flow.decided = True
        self._apply(flow, st)
        if flow.decided:
            flow.scratch = None
            if flow.app == "BitTorrent":
                self._peer(flow.dst, flow.dport)
                if proto == "UDP":  # uTP and DHT send from the port they listen on
                    self._peer(flow.src, flow.sport)

    def _peer(self, ip: bytes, port: int) -> None:
        peers = self.peers
        if len(peers) >= PEER_CACHE:
            peers.popitem(last=False)
        peers[(ip, port)] = True

    def finish(self, flow) -> None:
        """The engine has shown enough packets: settle on the best evidence so far."""
        st = flow.scratch
        if isinstance(st, FlowState):
            self._apply(flow, st)
        # else: no payload was seen, and the verdict from ports and names is written already
        flow.scratch = None

    # ------------------------------------------------------------------ first packet
    def _begin(self, flow, pl: bytes | None) -> FlowState | None:
        """A flow's first packet: port and learned-name evidence.

        Returns the flow's state when its payload ``pl`` is to be read next; otherwise writes
        the verdict the evidence gives, leaves a marker in ``flow.scratch`` and returns None.
        """
        proto = flow.proto
        ports = self._ports.get(proto)
        if ports is None:
            rule = self.rules.protocols.get(proto)
            flow.app = rule.app if rule else None
            flow.use_case = rule.use_case if rule else "unknown"
            flow.reason = rule.reason if rule else None
            flow.decided = True
            return None
        a = flow.sport
        b = flow.dport
        if a > b:
            a, b = b, a
        port = ports.get(a) or ports.get(b)
        names = self.names
        name = None
        if names:
            name = names.get(flow.dst) or names.get(flow.src)
            if name is not None:
                flow.name = name
        if proto == "UDP" and pl is not None and port is not None and len(pl) > 12 and not pl[2] & 0x80:
            kind = DNS_PORTS.get(flow.dport) or DNS_PORTS.get(flow.sport)
            if kind is not None and port[0].app == DNS_APPS[kind] and self.shortcuts and PAYLOAD_LIMIT == 2:
                # A query on a DNS port (a third of new flows on a busy link): the verdict _apply
                # gives it, and a marker; the next payload (the answer) settles it in _dns_answer.
                r = self._sig[kind]
                flow.app = r.app
                flow.use_case = r.use_case
                flow.reason = self._dns_reasons[kind][0]
                flow.scratch = self._dns_marks[kind]
                return None
        hint = None
        if name is not None:
            hint = self._hints.get(name, _MISSING)  # the memo's hit inlined: a call less per flow
            if hint is _MISSING:
                hint = self._hint(name)
        if hint is None and self._has_nets:
            # the networks' gate of first 16 bits, inlined: most addresses stop here
            d = flow.dst
            s = flow.src
            if len(d) == 4:
                g4 = self._gate4
                near = g4[(d[0] << 8) | d[1]] or g4[(s[0] << 8) | s[1]]
            else:  # NetworkTable.v6.admits, inlined
                g6 = self._gate6
                a = g6[(d[0] << 8) | d[1]]
                b = g6[(s[0] << 8) | s[1]]
                near = a == 2 or b == 2 or (a and d[:4] in self._fine6) or (b and s[:4] in self._fine6)
            if near:
                nets = self._nets
                hint = nets.lookup(d) or nets.lookup(s)
        if self.peers and ((flow.dst, flow.dport) in self.peers or (flow.src, flow.sport) in self.peers):
            hint = self._peer_hint
        if proto == "TCP":
            if self.expected and (
                self.expected.pop((flow.dst, flow.dport), None) or self.expected.pop((flow.src, flow.sport), None)
            ):
                st = FlowState(port, hint, self._sig["ftp_data"], "announced by ftp control")
                self._apply(flow, st)
                flow.decided = True
                flow.scratch = None
                return None
            if (
                self.ftp_pairs
                and 21 not in (flow.sport, flow.dport)
                and host_pair(flow.src, flow.dst) in self.ftp_pairs
            ):
                hint = self._ftp_hint
        if pl is not None:
            st = flow.scratch = FlowState(port, hint)
            return st
        # The verdict _apply would give a state with only these two pieces of evidence.
        if hint is not None:
            flow.app = port[0].app if port is not None else (hint[0].app or hint[0].service)
            flow.use_case = hint[0].use_case
            flow.reason = hint[1]
        elif port is not None:
            r = port[0]
            flow.app = r.app
            flow.use_case = r.use_case
            flow.reason = r.reason
        else:
            flow.app = None
            flow.use_case = "unknown"
            flow.reason = None
        flow.scratch = _BEGUN if hint is None else hint  # the hint (a shared tuple) is the marker
        return None

    def _state(self, flow, marker: object) -> FlowState:
        """The state of a flow begun without payload: the evidence _begin found then."""
        a = flow.sport
        b = flow.dport
        if a > b:
            a, b = b, a
        ports = self._ports[flow.proto]
        st = flow.scratch = FlowState(ports.get(a) or ports.get(b), None if marker is _BEGUN else marker)
        return st

    def _dns_answer(self, flow, kind: str, pl: bytes) -> None:
        """The second payload of a flow begun by a DNS query: what the general path does with it.

        (``_udp`` -> ``_dns`` on a state holding the query, then PAYLOAD_LIMIT settles the flow.)
        """
        detail = 0  # "dns query"
        if len(pl) <= 12 or pl[2] & 0x80:  # not another query: the answer, or something else
            qnames = self._qnames
            if len(qnames) >= QUESTION_NAMES:
                qnames.clear()
            try:
                msg = wire.dns_message(pl, 0, qnames)
            except (IndexError, ValueError, UnicodeError, OverflowError):
                msg = None
            if msg is not None:
                is_resp, qname, addrs = msg
                if qname and kind == "dns":
                    flow.name = qname
                if is_resp:
                    detail = 1  # "dns response"
                    if qname:
                        for a in addrs:
                            self._remember(a, qname)
        r = self._sig[kind]
        flow.app = r.app
        flow.use_case = r.use_case
        flow.reason = self._dns_reasons[kind][detail]
        flow.decided = True
        flow.scratch = None

    def _tls_first(self, flow, marker: object, pl: bytes, from_src: bool) -> bool:
        """The commonest first payload, a whole ClientHello with SNI: decided here without a state.

        Gives exactly what the general path (``_state``, ``_tcp``, ``_apply``) gives for it;
        False (nothing done) for anything else, which then takes the general path.
        """
        try:
            if len(pl) <= 5 or pl[5] != 1 or pl[1] != 3 or pl[2] > 4:
                return False
            rlen = (pl[3] << 8) | pl[4]
            if not (4 <= rlen <= len(pl) - 5 and 4 + ((pl[6] << 16) | (pl[7] << 8) | pl[8]) <= rlen):
                return False
            where = wire._hello_extensions(pl, 5, 5 + rlen)  # found once, for the SNI and the ALPN
            if where is None:
                return False
            ext, ext_end = where
            snis = self._snis
            if len(snis) >= SNI_NAMES:
                snis.clear()
            sni = wire.extensions_sni(pl, ext, ext_end, snis)
        except (IndexError, ValueError, UnicodeError, OverflowError):
            return False
        if not sni or ip_literal(sni):
            return False
        flow.name = sni
        hit = self._name_hits.get(sni, _MISSING)  # the memo's hit inlined
        if hit is _MISSING:
            hit = self._match(sni)
        if hit is None or hit[0].use_case == "web":  # the ALPN offer may say more (detectors/tls.py)
            alpn_hit = alpn.offer_hit(alpn.hello_alpn(pl, ext, ext_end))  # hello_alpn_hit, in place
            if alpn_hit is not None:
                hit = alpn_hit
        self._remember(flow.dst if from_src else flow.src, sni)
        c = self._tls
        flow.app = c.app
        if hit is not None:
            flow.use_case = hit[0].use_case
            reason = self._sni_reasons.get(hit[1])
            if reason is None:
                reason = self._sni_reasons[hit[1]] = f"tls sni {hit[1]}"
            flow.reason = reason
        elif marker is not _BEGUN:  # the hint the flow began with
            flow.use_case = marker[0].use_case
            reason = self._hint_reasons.get(marker[1])
            if reason is None:
                reason = self._hint_reasons[marker[1]] = f"tls sni, {marker[1]}"
            flow.reason = reason
        else:
            a = flow.sport
            b = flow.dport
            if a > b:
                a, b = b, a
            ports = self._ports[flow.proto]
            port = ports.get(a) or ports.get(b)
            if port is not None and port[0].use_case != c.use_case:
                flow.use_case = port[0].use_case
                flow.reason = f"tls sni, {port[0].reason}"
            else:
                flow.use_case = c.use_case
                flow.reason = "tls sni"
        flow.decided = True
        flow.scratch = None
        return True

    # ------------------------------------------------------------------ TCP
    def _tcp(self, flow, st: FlowState, pl: bytes, from_src: bool) -> None:
        if st.buf is not None:
            if from_src == st.buf_from_src:
                st.buf += pl[: TLS_BUFFER - len(st.buf)]
                self._tls_hello(flow, st, from_src)
            else:  # the server answers a ClientHello we saw only part of
                self._hello_cut(flow, st, pl)
            return
        if st.ftp:
            self._ftp_lines(flow, pl, from_src)
            return
        if st.http_wait:
            if not from_src:
                self._http_response(flow, st, pl)
            return
        if st.want_cert:
            if from_src != st.buf_from_src:  # the server's side (buf_from_src: the client's)
                self._cert(flow, st, pl)
            elif pl[0] == 0x16:  # a client's own certificate (mutual TLS) names some services
                self._client_cert(flow, st, pl)
            return
        if st.sig is not None or st.carrier is not None:
            if st.pending and st.seen and st.seen.get(GREETED, from_src) is not from_src:
                self._after_220(flow, st, pl)  # a bare 220 greeting: the other end's command decides
            return
        b0 = pl[0]
        if b0 == 0x16 and wire.tls_record_len(pl, 0):
            if len(pl) > 5 and pl[5] == 1:
                rlen = (pl[3] << 8) | pl[4]
                if 4 <= rlen <= len(pl) - 5 and 4 + int.from_bytes(pl[6:9], "big") <= rlen:
                    # The usual case: the whole ClientHello in the first record, read in place.
                    self._hello(flow, st, pl, 5, 5 + rlen, from_src)
                    return
                got = wire.tls_handshake(pl)
                if got is not None and got[1]:  # the whole ClientHello in one segment: the usual case
                    self._hello_done(flow, st, got[0], from_src)
                    return
                st.buf = bytearray(pl[:TLS_BUFFER])
                st.buf_from_src = from_src
                self._tls_hello(flow, st, from_src)
            else:  # ServerHello or later: the ClientHello was before the capture
                st.want_cert = True
                st.buf_from_src = not from_src
                self._carrier(flow, st, "tls", "tls", decided=False)
                self._cert(flow, st, pl)
            return
        if 20 <= b0 <= 23 and wire.tls_app_record(pl, 0):
            self._carrier(flow, st, "tls", "tls record", decided=True)
            return
        if b0 in HTTP_FIRST:
            req = wire.http_request(pl, 0)
            if req is not None:
                self._http_request(flow, st, req, from_src)
                return
            if b0 == 0x48 and pl.startswith(b"HTTP/1."):
                resp = wire.http_response(pl, 0)
                if resp is not None:
                    self._carrier(flow, st, "http", "http response", decided=False)
                    self._http_response(flow, st, pl)
                    return
        if st.payloads == 0 and b0 in BANNER_FIRST and self._banner(flow, st, pl, from_src):
            return
        if self._payload_rules(flow, st, pl, "TCP"):
            return
        if b0 == 0x10 and wire.mqtt_connect(pl, 0):
            self._signature(flow, st, "mqtt", "mqtt connect")
        elif (flow.sport == 53 or flow.dport == 53) and len(pl) > 14:
            self._dns(flow, st, pl[2:], "dns", from_src)
        else:
            self._tcp_detectors(flow, st, pl, b0, from_src)

    # ------------------------------------------------------------------ TLS / HTTP
    def _learn_name(self, flow, st: FlowState, name: str, from_src: bool) -> None:
        """A name the client asked for (SNI, Host): it names the flow and teaches the server's address."""
        flow.name = name
        st.name_hit = self._match(name)
        self._remember(flow.dst if from_src else flow.src, name)

    def _match(self, name: str) -> tuple[Rule, str] | None:
        """Name rules for a name, memoised: the same servers come back again and again."""
        hits = self._name_hits
        hit = hits.get(name, _MISSING)
        if hit is not _MISSING:
            return hit
        hit = self.rules.match_name(name)
        if len(hits) >= NAME_MATCHES:
            hits.popitem(last=False)
        hits[name] = hit
        return hit

    def _hint(self, name: str) -> tuple[Rule, str] | None:
        """The hint a learned name gives a new flow, memoised (one tuple and reason per name)."""
        hints = self._hints
        hint = hints.get(name, _MISSING)
        if hint is not _MISSING:
            return hint
        hit = self._match(name)
        hint = (hit[0], f"learned name {hit[1]}") if hit is not None else None
        if len(hints) >= NAME_MATCHES:
            hints.popitem(last=False)
        hints[name] = hint
        return hint

    def _remember(self, ip: bytes, name: str) -> None:
        names = self.names
        if ip in names:
            names[ip] = name
            names.move_to_end(ip)  # refresh its place in the eviction order
            return
        if len(names) >= NAME_CACHE:
            names.popitem(last=False)
        names[ip] = name

    # ------------------------------------------------------------------ UDP
    def _udp(self, flow, st: FlowState, pl: bytes, from_src: bool) -> None:
        if st.crypto is not None:
            self._quic(flow, st, pl, from_src)
            return
        if st.want_cert:  # a DTLS ClientHello without SNI: the server's certificate may name it
            self._dtls_cert(flow, st, pl, from_src)
            return
        if st.sig is not None or st.carrier is not None:
            if st.sig_detail == "dns query":  # wait for the answer: it teaches addresses
                self._dns(flow, st, pl, DNS_PORTS.get(flow.dport) or DNS_PORTS.get(flow.sport) or "dns", from_src)
            return
        sport, dport = flow.sport, flow.dport
        kind = DNS_PORTS.get(dport) or DNS_PORTS.get(sport)
        if kind is not None and self._dns(flow, st, pl, kind, from_src):
            return
        if self._payload_rules(flow, st, pl, "UDP"):
            return
        if len(pl) >= 11 and pl[2] == 2 and self._skype(flow, st, pl):  # specs.py: its obfuscation layer
            return
        if len(pl) >= 23 and pl[16] in filexfer.GNUTELLA_TYPES and self._gnutella(flow, st, pl):
            return  # specs.py: Gnutella's GUID comes first, no first-byte gate
        b0 = pl[0]
        if b0 & 0x80:
            if b0 & 0x40:
                if len(pl) >= 7 and self._quic(flow, st, pl, from_src):
                    return
            elif self._media(flow, st, pl, from_src):
                return
        if b0 == 0x16 and len(pl) > 13 and pl[1] == 0xFE and pl[2] in (0xFF, 0xFD, 0xFC):
            self._dtls(flow, st, pl, from_src)
        elif b0 < 2 and wire.stun(pl, 0):
            if voice.stun_service(pl) == "zoom":
                self._signature(flow, st, "stun_zoom", "stun, zoom attribute")
            else:
                self._signature(flow, st, "stun", "stun")
        elif b0 in (0x4D, 0x4E, 0x48) and wire.ssdp(pl, 0):
            self._signature(flow, st, "ssdp", "ssdp")
        elif b0 == 0x64 and wire.bencoded_dht(pl, 0):
            self._signature(flow, st, "bittorrent_dht", "bittorrent dht")
            for ip, port in filexfer.dht_peers(pl):
                self._peer(ip, port)
        elif len(pl) > 13 and pl.startswith(b"Q0", 9) and pl[0] & 0x01:  # (startswith: no slice made)
            self._gquic(flow, st, pl)
        elif b0 in UDP_DETECTED:
            self._udp_detectors(flow, st, pl, b0, from_src)

    # ------------------------------------------------------------------ payload rules
    # ------------------------------------------------------------------ verdicts
    def _signature(self, flow, st: FlowState, key: str, detail: str) -> None:
        st.sig = self._sig[key]
        st.sig_detail = detail
        flow.decided = True

    def _carrier(self, flow, st: FlowState, key: str, label: str, decided: bool) -> None:
        st.carrier = self._sig[key]
        st.carrier_label = label
        if decided:
            flow.decided = True

    def _apply(self, flow, st: FlowState) -> None:
        """Write the best verdict the evidence allows into the flow."""
        port = st.port
        if st.sig is not None:
            r = st.sig
            flow.app = r.app
            reason = f"{r.reason}: {st.sig_detail}" if st.sig_detail else r.reason
            hint = st.hint
            if hint is not None and id(r) in self._generic and hint[0].use_case in _MEDIA_USES:
                # the media of a service a name or network tells (a Zoom meeting is video)
                flow.use_case = hint[0].use_case
                flow.reason = f"{reason}, {hint[1]}"
                return
            flow.use_case = r.use_case
            flow.reason = reason
            return
        if st.carrier is not None:
            c = st.carrier
            flow.app = c.app
            label = st.carrier_label
            if st.content is not None:
                flow.use_case = st.content.use_case
                flow.reason = f"{label}, {st.content.reason}"
            elif st.name_hit is not None:
                rule, pat = st.name_hit
                flow.use_case = rule.use_case
                flow.reason = f"{label} {pat}"
            elif st.hint is not None:
                rule, why = st.hint
                flow.use_case = rule.use_case
                flow.reason = f"{label}, {why}"
            elif port is not None and port[0].use_case != c.use_case and c is not self._sig["http"]:
                # a port's use case over an opaque carrier (TLS on 993 is mail); a parsed HTTP
                # request already says what it is (HTTP on SIP's 5060 is still the web)
                flow.use_case = port[0].use_case
                flow.reason = f"{label}, {port[0].reason}"
            else:
                flow.use_case = c.use_case
                flow.reason = label
            return
        if st.hint is not None:
            rule, why = st.hint
            flow.app = port[0].app if port is not None else (rule.app or rule.service)
            flow.use_case = rule.use_case
            flow.reason = why
            return
        if port is not None:
            r = port[0]
            flow.app = r.app
            flow.use_case = r.use_case
            flow.reason = r.reason
            return
        flow.app = None
        flow.use_case = "unknown"
        flow.reason = None


_SIGNATURES = (
    "http",
    "http_proxy",
    "http_connect",
    "http_video",
    "http_download",
    "tls",
    "dtls",
    "quic",
    "gquic",
    "dns",
    "mdns",
    "llmnr",
    "netbios_ns",
    "smtp",
    "imap",
    "pop3",
    "ftp",
    "ftp_data",
    "bittorrent_dht",
    "stun",
    "rtp",
    "rtcp",
    "mqtt",
    "rtmp",
    "ssdp",
    "bittorrent",
    "tftp",
    "whatsapp",
    "telegram",
    "mpegts",
    "raknet",
    "minecraft",
    "stun_zoom",
    "discord",
    "source_engine",
    *("among_us", "steam_sockets", "nintendo_pia", "mihoyo", "battle_net"),  # gaming, issue 12
    # messaging, file transfer, remote access (issue 12)
    "telnet",
    "rdp",
    "edonkey",
    "nfs",
    "afp",
    "teamviewer",
    "irc",
    "anydesk",
    # voice and streaming signalling (issue 12)
    *("teamspeak", "iax", "mgcp", "megaco", "zrtp", "h323", "rtsp", "mms", "spotify", "skype"),
    *("flute", "bfcp", "gnutella"),  # issue 12 audit: FLUTE over ALC/LCT, BFCP, Gnutella over UDP
    # issue 12: recent nDPI's dissectors in our use cases
    *("zoom", "mumble", "threema", "uftp", "lustre", "ceph", "vmware", "xdmcp"),
)

_MEDIA_USES = frozenset(("voice", "streaming"))

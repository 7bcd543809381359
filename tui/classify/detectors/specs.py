"""Glue between the Classifier and the spec-written detectors (voice, filexfer, gaming, streaming,
messaging): which detector a first byte calls, and the two-packet state (RTP, uTP, TFTP, RTMP,
Source engine) kept in ``FlowState.seen``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify.detectors import filexfer, gaming, messaging, remote, streaming, voice

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState

# first bytes _udp_detectors acts on: uTP types, the 0x00 of TFTP and Discord, 0xFF of Source,
# 0x47 of MPEG-TS, RakNet's message ids, TURN ChannelData's 0x4X, the games' of _GAMING_UDP
# (Hazel's Hello and Ack, Steam Networking Sockets' handshake, Nintendo PIA, miHoYo's 0x00),
# the MGCP verbs' first letters, Megaco's "M" and "!", TeamSpeak 3's "T", ZRTP's 0x10, LCT's 0x1X, BFCP's,
# Zoom's SFU type 5 and its peer-to-peer media types (UFTP's 0x50, Mumble's 0x00 and RDP-UDP's 0xFF
# are among them already)
_GAMING_UDP = frozenset((0x00, 0x08, 0x0A, 0x20, 0x21, 0x22, 0x23, 0x32))
UDP_DETECTED = frozenset(
    (0x01, 0x11, 0x21, 0x31, 0x41, 0x00, 0xFF, 0x47, *gaming.RAKNET_IDS, *range(0x40, 0x50), *_GAMING_UDP)
    + (0x52, 0x54, 0x10)
    + tuple(filexfer.LCT_FIRST)
    + tuple(voice.BFCP_FIRST)
    + (streaming.ZOOM_SFU, *streaming.ZOOM_P2P_FIRST)
)
_TFTP_OPCODES = frozenset((b"\x01", b"\x02", b"\x03", b"\x04"))  # RRQ, WRQ, DATA, ACK (RFC 1350 5)
_STUN_COOKIE = b"\x21\x12\xa4\x42"  # RFC 8489 6: at bytes 4-7 of every message
THREEMA_HELLO = messaging.THREEMA_CLIENT_HELLO
RDPUDP_SYN = remote.RDPUDP_SYN_SIZE
# module constants read as globals (no attribute lookup on the hot path)
ZOOM_SFU, ZOOM_P2P_FIRST, UFTP_VERSION = streaming.ZOOM_SFU, streaming.ZOOM_P2P_FIRST, filexfer.UFTP_VERSION
_ZOOM_USES = (None, "streaming", "voice")
_MUMBLE_SIZES = (voice.MUMBLE_PING, voice.MUMBLE_PONG)
_MTPROTO_PORTS = frozenset((80, 443, 25, 5222))  # where Telegram's clients reach its servers
# first bytes _msgfile_tcp acts on: Telnet's IAC, TPKT's version 3, eDonkey's protocol bytes, an
# RPC record mark's last-fragment bit, DSI's flags (and LNet's little-endian magic), IRC's first
# letters, Ceph's banner "c"
_MSGFILE_TCP_FIRST = frozenset(
    (remote.IAC, remote.TPKT_VERSION, *filexfer.EDONKEY_PROTOCOLS, 0x80, 0x00, 0x01, *messaging.IRC_FIRST, 0x63)
)


class SpecHandling:
    """Media and spec-detector glue of the Classifier (a mixin: it uses the verdict helpers)."""

    def _tcp_detectors(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> None:
        """Detectors written from the protocols' specifications (tui/classify/detectors)."""
        seen = st.seen
        if seen:
            rtmp = seen.get("rtmp")
            if rtmp:
                if (rtmp == 1) != from_src and pl[0] in streaming.RTMP_VERSIONS:  # S0+S1 answers C0+C1
                    st.pending = False
                    self._signature(flow, st, "rtmp", "rtmp handshake")
                return
            if seen.get("threema"):  # client-hello seen: the server's next payload is server-hello
                seen["threema"] = 0
                st.pending = False
                if not from_src and len(pl) == messaging.THREEMA_SERVER_HELLO:
                    self._signature(flow, st, "threema", "threema client-hello and server-hello")
                return
        if b0 <= 3 and self._tcp_media(flow, st, pl, b0):
            return
        if b0 in streaming.RTMP_VERSIONS and streaming.rtmp_hello(pl):
            _seen(st)["rtmp"] = 1 if from_src else 2
            st.pending = True
            return
        if b0 in (0x57, 0x45) and messaging.whatsapp(pl):
            self._signature(flow, st, "whatsapp", "whatsapp prologue")
        elif b0 in (0xEF, 0xEE, 0xDD) and (flow.dport in _MTPROTO_PORTS) and messaging.mtproto(pl):
            self._signature(flow, st, "telegram", "mtproto transport")
        elif st.payloads == 0 and len(pl) == THREEMA_HELLO and from_src and flow.dport in messaging.THREEMA_PORTS:
            _seen(st)["threema"] = 1  # client-hello: the server's answer decides (above)
            st.pending = True
        elif b0 < 2 and pl.startswith(_STUN_COOKIE, 4) and voice.stun_message(pl, stream=True):
            self._signature(flow, st, "stun", "stun over tcp")
        elif pl.startswith(_STUN_COOKIE, 6) and pl[2] < 2 and voice.stun_message(pl[2:], stream=True):
            self._signature(flow, st, "stun", "stun over tcp, rfc 4571 framing")
        elif (b0 in gaming.BNET_CLASSES or b0 == 1) and self._battle_net(flow, st, pl, b0, from_src):
            return
        elif b0 >= 7 and st.payloads == 0 and gaming.minecraft_handshake(pl):  # b0: the packet's length
            self._signature(flow, st, "minecraft", "minecraft handshake")
        elif b0 == 0x24 and streaming.rtsp_interleaved(pl):
            self._signature(flow, st, "rtsp", "rtsp interleaved rtp")
        elif b0 == 0x20 and st.payloads < 4 and _port_use(st) in (None, "voice") and self._bfcp(flow, st, pl, from_src):
            return
        elif b0 in _MSGFILE_TCP_FIRST and st.payloads < 2:
            self._msgfile_tcp(flow, st, pl, b0, from_src)

    def _msgfile_tcp(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> None:
        """Messaging, file transfer and remote access openings (issue 12), by their first byte."""
        if b0 == remote.IAC:
            if remote.telnet_negotiation(pl):
                self._signature(flow, st, "telnet", "telnet option negotiation")
        elif b0 == remote.TPKT_VERSION:
            if remote.rdp_connection(pl):
                self._signature(flow, st, "rdp", "x.224 connection request/confirm")
        elif b0 in filexfer.EDONKEY_PROTOCOLS:
            if filexfer.edonkey_hello(pl):
                self._signature(flow, st, "edonkey", "edonkey hello")
        elif b0 == 0x80:
            if filexfer.nfs_call(pl):
                self._signature(flow, st, "nfs", "onc rpc call to an nfs program")
        elif b0 < 2:
            if filexfer.dsi_opening(pl):
                self._signature(flow, st, "afp", "dsi opensession/getstatus")
            elif from_src and st.payloads == 0 and b0 == 0 and filexfer.lustre_connreq(pl, flow.dst):
                self._signature(flow, st, "lustre", "lnet acceptor connection request")
        elif b0 == 0x63:
            if filexfer.ceph_banner(pl):
                self._signature(flow, st, "ceph", "ceph messenger banner")
        elif _port_use(st) not in _IRC_YIELDS and messaging.irc_line(pl):
            # a text line: the port's own protocol wins where its lines can read as IRC's
            # (FTP's and POP3's PASS and USER, a Telnet login), not on a web or binary port
            self._signature(flow, st, "irc", "irc message")

    def _udp_detectors(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> None:
        """Detectors written from the protocols' specifications (tui/classify/detectors)."""
        # a well-known port names its service: only detectors of the same use case may
        # overrule it (uTP and TFTP look like many binary headers)
        use = _port_use(st)
        if b0 == 0 and len(pl) in _MUMBLE_SIZES and use in (None, "voice") and self._mumble(flow, st, pl, from_src):
            return
        if b0 == ZOOM_SFU and use in _ZOOM_USES and streaming.zoom_sfu(pl):
            self._signature(flow, st, "zoom", "zoom sfu media")
            return
        if b0 in _GAMING_UDP and use in (None, "gaming") and self._gaming_udp(flow, st, pl, b0, from_src):
            return
        if b0 & 0x0F == 1 and b0 <= 0x41 and use in (None, "file_transfer"):
            u = filexfer.utp_header(pl)
            if u is not None:
                first = st.seen.get("utp") if st.seen else None
                if first is not None and filexfer.utp_pair(first, u):
                    st.pending = False
                    self._signature(flow, st, "bittorrent", "utp")
                elif first is None:
                    _seen(st)["utp"] = u
                    st.pending = True
                return
        if b0 == 0 and pl[1:2] in _TFTP_OPCODES:
            if use in (None, "file_transfer"):
                if filexfer.tftp_request(pl):
                    self._signature(flow, st, "tftp", "tftp request")
                    return
                t = filexfer.tftp_transfer(pl)
                if t is not None:
                    first = st.seen.get("tftp") if st.seen else None
                    if first is not None and filexfer.tftp_answers(first, t):
                        st.pending = False
                        self._signature(flow, st, "tftp", "tftp data")
                    elif first is None:
                        _seen(st)["tftp"] = t
                        st.pending = True
                    return
            if pl[1] == 1 and use in (None, "remote_access") and remote.xdmcp_packet(pl):  # version 1
                self._signature(flow, st, "xdmcp", "xdmcp packet")
                return
        if b0 == UFTP_VERSION and use in (None, "file_transfer") and filexfer.uftp_message(pl):
            self._signature(flow, st, "uftp", "uftp 5 message")
            return
        if b0 in filexfer.LCT_FIRST and use in (None, "file_transfer"):
            h = filexfer.lct_header(pl)
            if h is not None:
                self._flute(flow, st, h, from_src)
                return
        if b0 in ZOOM_P2P_FIRST and use in _ZOOM_USES and self._zoom_p2p(flow, st, pl, b0, from_src):
            return
        if b0 == 0xFF and len(pl) == RDPUDP_SYN and use in (None, "remote_access") and remote.rdpudp_syn(pl):
            self._signature(flow, st, "rdp", "rdp-udp syn")
            return
        if b0 == 0xFF and use in (None, "gaming") and gaming.connectionless(pl):
            self._both_ways(flow, st, from_src, "source_engine", "connectionless packets both ways")
            return
        if b0 == 0 and len(pl) > 13 and use in (None, "remote_access") and remote.teamviewer_datagram(pl):
            self._both_ways(flow, st, from_src, "teamviewer", "teamviewer datagrams both ways")
            return
        if b0 == 0 and len(pl) == 74 and voice.discord_ip_discovery(pl):
            self._signature(flow, st, "discord", "discord ip discovery")
        elif b0 == 0x47 and streaming.mpeg_ts(pl):
            self._signature(flow, st, "mpegts", "mpeg transport stream")
        elif b0 in gaming.RAKNET_IDS and use in (None, "gaming") and gaming.raknet_offline(pl):
            self._signature(flow, st, "raknet", "raknet handshake")
        elif b0 & 0xF0 == 0x40 and st.port is not None and st.port[0].app == "STUN" and voice.turn_channel_data(pl):
            self._signature(flow, st, "stun", "turn channel data")
        elif use in (None, "voice"):
            self._udp_voice(flow, st, pl, b0, from_src)

    def _mumble(self, flow, st: FlowState, pl: bytes, from_src: bool) -> bool:
        """Mumble's UDP ping from one end answered by the other with the same ident: True when one was."""
        ident = voice.mumble_ping(pl)
        if ident is not None:
            _seen(st)["mumble"] = (from_src, ident)
            st.pending = True
            return True
        got = st.seen.get("mumble") if st.seen else None
        if got is None or got[0] == from_src or not voice.mumble_pong(pl, got[1]):
            return False
        st.pending = False
        self._signature(flow, st, "mumble", "mumble ping answered")
        return True

    def _zoom_p2p(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> bool:
        """Zoom's peer-to-peer media (after the LCT parse, which shares the first byte): when the
        same sender's next packet continues the RTP stream inside, as for RTP.  True when one was."""
        if b0 == 0x10 and voice.zrtp_packet(pl):  # ZRTP's version byte: its cookie decides
            return False
        h = streaming.zoom_media_rtp(pl, 0)
        if h is None:
            return False
        self._rtp_step(flow, st, h, "zoom1" if from_src else "zoom2", "zoom", "zoom p2p media")
        return True

    def _rtp_step(self, flow, st: FlowState, h: tuple[int, int, int], key: str, sig: str, detail: str) -> None:
        """One sender's RTP header ``h``: the signature when it continues the same sender's last
        one (kept under ``key``), else keep it and wait for the next."""
        prev = st.seen.get(key) if st.seen else None
        if prev is not None and voice.rtp_follows(prev, h):
            st.pending = False
            self._signature(flow, st, sig, detail)
        else:
            _seen(st)[key] = h
            st.pending = True

    def _gnutella(self, flow, st: FlowState, pl: bytes) -> bool:
        """A datagram that one Gnutella message fills (its GUID first, so any first byte: the
        check comes before the RTP and QUIC ones, which a random GUID's first byte can look like)."""
        if _port_use(st) in (None, "file_transfer") and filexfer.gnutella_message(pl):
            self._signature(flow, st, "gnutella", "gnutella message")
            return True
        return False

    def _flute(self, flow, st: FlowState, h: tuple, from_src: bool) -> None:
        """An ALC/LCT packet: FLUTE at its FDT Instance, or at the sender's next packet of the same session."""
        if h[3]:
            st.pending = False
            self._signature(flow, st, "flute", "fdt instance")
            return
        seen = st.seen
        first = seen.get("lct") if seen else None
        if first is None:
            _seen(st)["lct"] = (from_src, h)
            st.pending = True
        elif first[0] == from_src and filexfer.lct_same_session(first[1], h):
            st.pending = False
            self._signature(flow, st, "flute", "alc/lct packets of one session")
        else:
            st.pending = False

    def _both_ways(self, flow, st: FlowState, from_src: bool, key: str, detail: str) -> None:
        """A datagram a detector matched: the verdict once the other end has sent one too."""
        side = 1 if from_src else 2
        first = st.seen.get(key) if st.seen else None
        if first and first != side:
            st.pending = False
            self._signature(flow, st, key, detail)
        elif not first:
            _seen(st)[key] = side
            st.pending = True

    def _udp_voice(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> None:
        """Text and binary VoIP signalling on UDP (issue 12), by first byte."""
        if b0 == 0x54:
            if voice.teamspeak3_init(pl):
                self._signature(flow, st, "teamspeak", "teamspeak 3 init")
        elif b0 == 0x10:
            if voice.zrtp_packet(pl):
                self._signature(flow, st, "zrtp", "zrtp packet")
        elif b0 in voice.MGCP_FIRST and voice.mgcp_command(pl):
            self._signature(flow, st, "mgcp", "mgcp command")
        elif b0 in (0x4D, 0x21) and voice.megaco_message(pl):
            self._signature(flow, st, "megaco", "megaco message")
        elif b0 in voice.BFCP_FIRST:
            self._bfcp(flow, st, pl, from_src)

    def _bfcp(self, flow, st: FlowState, pl: bytes, from_src: bool) -> bool:
        """BFCP messages from both ends of one conference (RFC 8855): True when this payload was one."""
        msg = voice.bfcp_message(pl)
        if msg is None:
            return False
        seen = st.seen
        first = seen.get("bfcp") if seen else None
        if first is None:
            _seen(st)["bfcp"] = (from_src, msg[0])
            st.pending = True
        elif first[0] != from_src and first[1] == msg[0]:
            st.pending = False
            self._signature(flow, st, "bfcp", "floor control messages both ways")
        return True

    def _tcp_media(self, flow, st: FlowState, pl: bytes, b0: int) -> bool:
        """H.323 over TPKT, MMS, Spotify's access point, RTSP-interleaved media (issue 12)."""
        if _port_use(st) not in (None, "voice", "streaming"):
            return False
        if b0 == 3:
            kind = voice.tpkt_h323(pl)
            if kind is not None:
                self._signature(flow, st, "h323", "h.225 q.931 over tpkt" if kind == "q931" else "h.245 over tpkt")
                return True
        elif b0 == 1:
            if streaming.mms_tcp(pl):
                self._signature(flow, st, "mms", "mms tcp message")
                return True
        elif b0 == 0 and streaming.spotify_hello(pl):
            self._signature(flow, st, "spotify", "spotify access point hello")
            return True
        return False

    def _skype(self, flow, st: FlowState, pl: bytes) -> bool:
        """Skype's UDP obfuscation layer, two packets: the first two payloads of a flow on no
        service's port both carry it with the same CRC and different IVs (see voice.skype_udp)."""
        port = st.port
        if port is not None and port[1] < 49152:
            return False
        d = flow.dst
        if d[0] >= 224 if len(d) == 4 else d[0] == 0xFF:  # multicast or broadcast: no call goes there
            return False
        seen = st.seen
        first = seen.get("skype") if seen else None
        if first is None:
            if st.payloads == 0:  # only a flow's first payload opens the test
                _seen(st)["skype"] = pl[:11]
            return False
        seen["skype"] = b""  # one answer only: the packet right after the first
        if first and voice.skype_pair(first, pl):
            self._signature(flow, st, "skype", "skype udp obfuscation layer")
            return True
        return False

    def _gaming_udp(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> bool:
        """Game handshakes over UDP (tui/classify/detectors/gaming.py): True when the packet was one."""
        seen = st.seen
        if b0 == 0x08:  # Hazel Hello: wait for the other end's Ack of its id
            pid = gaming.hazel_hello(pl)
            if pid is None:
                return False
            _seen(st)["hazel"] = (from_src, pid)
            st.pending = True
            return True
        if b0 == 0x0A:
            got = seen.get("hazel") if seen else None
            if got is None or got[0] == from_src or not gaming.hazel_ack(pl, got[1]):
                return False
            st.pending = False
            self._signature(flow, st, "among_us", "hazel hello and ack")
            return True
        if b0 in gaming.SNS_REQUESTS:  # a padded request: wait for the answer with its connection id
            conn = gaming.sns_request(pl)
            if conn is None:
                return False
            _seen(st)["sns"] = (from_src, b0, conn)
            st.pending = True
            return True
        if b0 == 0x21 or b0 == 0x23:
            got = seen.get("sns") if seen else None
            if got is None or got[0] == from_src or not gaming.sns_reply(pl, got[1], got[2]):
                return False
            st.pending = False
            self._signature(flow, st, "steam_sockets", "steam networking sockets handshake")
            return True
        if b0 == 0x32:
            if not gaming.nintendo_pia(pl):
                return False
            self._signature(flow, st, "nintendo_pia", "pia header")
            return True
        if b0 == 0 and gaming.mihoyo_handshake(pl):
            self._signature(flow, st, "mihoyo", "kcp handshake")
            return True
        return False

    def _battle_net(self, flow, st: FlowState, pl: bytes, b0: int, from_src: bool) -> bool:
        """BNCS/W3GS messages from both ends (after the client's protocol byte 1): True when one was."""
        seen = st.seen
        sides = seen.get("bnet", 0) if seen else 0
        if b0 == 1:
            if st.payloads != 0 or not from_src:
                return False
            if len(pl) == 1:  # the protocol byte alone: the messages follow
                _seen(st)["bnet"] = 0
                st.pending = True
                return True
            if not gaming.bnet_frames(pl, 1):
                return False
            side = 1
        elif gaming.bnet_frames(pl):
            side = 1 if from_src else 2
        else:
            return False
        sides |= side
        if sides == 3:
            st.pending = False
            self._signature(flow, st, "battle_net", "bncs messages both ways")
        else:
            _seen(st)["bnet"] = sides
            st.pending = True
        return True

    def _media(self, flow, st: FlowState, pl: bytes, from_src: bool) -> bool:
        """RTCP in one packet; RTP (or SRTP) when the same sender's next packet continues its stream."""
        port = st.port
        if port is not None and port[0].use_case not in ("voice", "streaming") and port[1] < 49152:
            return False  # a service's own port (a claim on the dynamic range that media use is weaker)
        if voice.rtcp(pl):
            self._signature(flow, st, "rtcp", "rtcp header")
            return True
        if len(pl) >= 12 and pl[10] == voice.IAX_IAX and voice.iax2_call_start(pl):
            self._signature(flow, st, "iax", "iax2 call start")
            return True
        h = voice.rtp_header(pl)
        if h is None:
            return False
        self._rtp_step(flow, st, h, "rtp1" if from_src else "rtp2", "rtp", "rtp header")
        return True


# the use cases of the text protocols whose lines an IRC line can be (FTP, POP3/SMTP/IMAP, Telnet)
_IRC_YIELDS = frozenset(("file_transfer", "mail", "remote_access"))


def _port_use(st: FlowState) -> str | None:
    """The use case of the flow's well-known port (below the dynamic range), or None."""
    port = st.port
    return port[0].use_case if port is not None and port[1] < 49152 else None


def _seen(st: FlowState) -> dict:
    """The flow's record of what its two-packet detectors saw first (made on first use)."""
    seen = st.seen
    if seen is None:
        seen = st.seen = {}
    return seen

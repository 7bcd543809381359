"""ALPN (RFC 7301): the application protocols a TLS, DTLS or QUIC client offers, and what they mean.

The ClientHello's application_layer_protocol_negotiation extension (type 16) lists the
protocols the client speaks, most preferred first; a TLS 1.2 server names its choice in
the ServerHello (in TLS 1.3 and QUIC that answer is encrypted).  The IDs come from the
IANA "TLS Application-Layer Protocol Negotiation (ALPN) Protocol IDs" registry.  The
table below gives a use case to the IDs that mean one; the web IDs (HTTP, SPDY, h2, h3)
are listed to say "nothing beyond the carrier's web", and IDs not in the table (databases,
CoAP, ACME, vendor strings) teach nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from struct import Struct
from types import MappingProxyType

from tui.classify.rules import Rule

_H = Struct("!H")
MAX_OFFER = 8  # protocol IDs read from one offer

# IANA ALPN registry ID -> use case (the registry's reference in the comment).
ALPN_USES: Mapping[str, str] = MappingProxyType(
    {
        "http/0.9": "web",  # RFC 1945
        "http/1.0": "web",  # RFC 1945
        "http/1.1": "web",  # RFC 9112
        "spdy/1": "web",
        "spdy/2": "web",
        "spdy/3": "web",
        "h2": "web",  # RFC 9113
        "h2c": "web",
        "h3": "web",  # RFC 9114
        "stun.turn": "voice",  # RFC 7443: TURN over TLS/DTLS
        "stun.nat-discovery": "voice",  # RFC 7443
        "webrtc": "voice",  # RFC 8833: WebRTC media and data over DTLS
        "c-webrtc": "voice",  # RFC 8833: confidential WebRTC
        "sip/2": "voice",  # RFC 3261 over TLS (registered 2022)
        "xmpp-client": "messaging",  # XEP-0368 direct TLS
        "xmpp-server": "messaging",  # XEP-0368
        "irc": "messaging",  # IRCv3 STS
        "mqtt": "messaging",  # OASIS MQTT 5.0 (nDPI files MQTT under chat/IoT messaging too)
        "imap": "mail",  # RFC 2595
        "pop3": "mail",  # RFC 2595
        "managesieve": "mail",  # RFC 5804: mail filter scripts
        "ftp": "file_transfer",  # RFC 4217
        "smb": "file_transfer",  # MS-SMB2 over QUIC
        "sunrpc": "file_transfer",  # RFC 9289: RPC-with-TLS, made for NFS
        "dot": "name_resolution",  # RFC 7858
        "doq": "name_resolution",  # RFC 9250
        "ntske/1": "network_control",  # RFC 8915: NTS key establishment for NTP
        # not in the IANA registry: Syncthing's own IDs (docs.syncthing.net, BEP v1 and relay protocol)
        "bep/1.0": "file_transfer",
        "bep-relay": "file_transfer",
    }
)

# ID -> the (rule, "alpn ID") pair a carrier's verdict takes, as a name rule's hit would be:
# made once here, immutable (Rule is frozen), for the IDs that say more than web.
ALPN_HITS: Mapping[str, tuple[Rule, str]] = MappingProxyType(
    {k: (Rule(None, use, f"alpn {k}"), f"alpn {k}") for k, use in ALPN_USES.items() if use != "web"}
)

_DOQ_DRAFT = (Rule(None, "name_resolution", "alpn doq draft"), "alpn doq draft")


def _use_of(proto: str) -> str | None:
    """The use case of one ID; draft versions of h2/h3 and HTTP over QUIC drafts are web."""
    use = ALPN_USES.get(proto)
    if use is None:
        if proto.startswith(("h3-", "h2-", "hq-", "hq")):
            return "web"
        if proto.startswith("doq-"):  # RFC 9250 4.1.1: the drafts' "doq-i00" ... "doq-i11"
            return "name_resolution"
    return use


def offer_hit(offer: tuple[str, ...]) -> tuple[Rule, str] | None:
    """The hit of the client's most preferred ID that the table knows, when it says more than web."""
    for proto in offer:
        use = _use_of(proto)
        if use is not None:
            return ALPN_HITS.get(proto) or (_DOQ_DRAFT if use == "name_resolution" else None)
    return None


def hello_alpn(hs: bytes, p: int, ext_end: int) -> tuple[str, ...]:
    """The ALPN protocol IDs in the hello extensions at hs[p:ext_end] (empty when none).

    Found by searching for the extension's type (0x0010) and checking that its three nested
    lengths agree (extension length = list length + 2 = the IDs' bytes + 2), not by walking
    every extension: a ClientHello has fifteen or more, and this runs for most TLS flows.
    Bytes of another extension that pass all three checks and name a registry ID are not
    a practical risk.
    """
    find = hs.find
    q = find(b"\x00\x10", p, ext_end)
    for _ in range(8):
        if q < 0:
            return ()
        if q + 6 <= ext_end:
            elen = (hs[q + 2] << 8) | hs[q + 3]
            llen = (hs[q + 4] << 8) | hs[q + 5]
            if elen == llen + 2 and llen >= 2 and q + 4 + elen <= ext_end:
                got = protocol_list(hs, q + 4, q + 4 + elen)
                if got and (len(got) == MAX_OFFER or sum(len(x) + 1 for x in got) == llen):
                    return got
        q = find(b"\x00\x10", q + 1, ext_end)
    return ()


def protocol_list(data: bytes, p: int, end: int) -> tuple[str, ...]:
    """A ProtocolNameList (2-byte length, then 1-byte length-prefixed IDs) at data[p:end]."""
    if p + 2 > end:
        return ()
    end = min(end, p + 2 + _H.unpack_from(data, p)[0])
    q = p + 2
    out: list[str] = []
    while q < end and len(out) < MAX_OFFER:
        ln = data[q]
        if ln == 0 or q + 1 + ln > end:
            break
        raw = bytes(data[q + 1 : q + 1 + ln])
        if raw.isascii():
            out.append(raw.decode("ascii"))
        q += 1 + ln
    return tuple(out)

"""Game protocols from their published wire formats (issue 12): positive and near-miss cases,
fed through the real engine and classifier (bytes built with struct, following each spec)."""

from __future__ import annotations

import os
import struct

from classify_helpers import handshake, only_flow, run, tcp, udp

from tui.classify.detectors import gaming
from tui.classify.rules import load_rules


# ---- Hazel (Among Us)
def hazel_hello(pid: int = 1, version: int = 0) -> bytes:
    # send option Hello, reliable id, Hazel version, then Among Us's client version and name
    return b"\x08" + struct.pack("!H", pid) + bytes([version]) + struct.pack("<i", 50518400) + b"\x06Player"


def test_hazel_hello_answered_by_its_ack():
    ack = b"\x0a\x00\x01\xff"
    f = only_flow(run([udp(hazel_hello(), sport=40100, dport=40200), udp(ack, sport=40100, dport=40200, reply=True)]))
    assert (f.app, f.use_case) == ("AmongUs", "gaming")
    assert f.reason.endswith("hazel hello and ack")


def test_hazel_near_misses():
    hello = hazel_hello(pid=7)
    # an ack of another id, an ack from the same end, a hello with an unknown version byte
    for pkts in (
        [udp(hello, sport=40101, dport=40201), udp(b"\x0a\x00\x08\xff", sport=40101, dport=40201, reply=True)],
        [udp(hello, sport=40102, dport=40202), udp(b"\x0a\x00\x07\xff", sport=40102, dport=40202)],
        [udp(hazel_hello(pid=7, version=9), sport=40103, dport=40203), udp(b"\x0a\x00\x07\xff", 40103, 40203, True)],
    ):
        assert only_flow(run(pkts)).app != "AmongUs"
    assert gaming.hazel_hello(b"\x08\x00") is None
    assert not gaming.hazel_ack(b"\x0a\x00\x07\xff\x00", 7)  # an ack is four bytes


def test_among_us_port_alone():
    f = only_flow(run([udp(os.urandom(30), sport=40104, dport=22023)]))
    assert f.use_case == "gaming"


# ---- Steam Networking Sockets
def sns_challenge_request(conn: bytes = b"\x11\x22\x33\x44") -> bytes:
    body = b"\x0d" + conn + b"\x19" + struct.pack("<Q", 123456789) + b"\x20\x0b"  # fields 1, 3, 4
    return b"\x20" + struct.pack("<H", len(body)) + body + bytes(512 - 3 - len(body))


def sns_challenge_reply(conn: bytes = b"\x11\x22\x33\x44") -> bytes:
    return b"\x21\x0d" + conn + b"\x11" + os.urandom(8) + b"\x19" + os.urandom(8) + b"\x20\x0b"


def test_steam_networking_sockets_handshake():
    pkts = [udp(sns_challenge_request(), sport=40110, dport=40210)]
    pkts.append(udp(sns_challenge_reply(), sport=40110, dport=40210, reply=True))
    f = only_flow(run(pkts))
    assert (f.app, f.use_case) == ("Steam", "gaming")
    assert "steam networking sockets" in f.reason


def test_steam_networking_sockets_near_misses():
    req = sns_challenge_request()
    assert gaming.sns_request(req) == b"\x11\x22\x33\x44"
    assert gaming.sns_request(req[:511]) is None  # not padded to 512
    assert gaming.sns_request(req[:-1] + b"\x01") is None  # padding not zeros
    assert gaming.sns_request(b"\x21" + req[1:]) is None  # not a request id
    # the answer must carry the client's connection id
    other = sns_challenge_reply(b"\x99\x99\x99\x99")
    f = only_flow(run([udp(req, sport=40111, dport=40211), udp(other, sport=40111, dport=40211, reply=True)]))
    assert f.app != "Steam"


# ---- miHoYo's KCP handshake
def test_mihoyo_handshake():
    connect = struct.pack("!IIIII", 0xFF, 0, 0, 1234567890, 0xFFFFFFFF)
    f = only_flow(run([udp(connect, sport=40120, dport=40220)]))
    assert (f.app, f.use_case) == ("GenshinImpact", "gaming")
    answer = struct.pack("!IIIII", 0x145, 0x1234, 0x5678, 1234567890, 0x14514545)
    assert gaming.mihoyo_handshake(answer)
    assert not gaming.mihoyo_handshake(connect + b"\x00")  # twenty bytes exactly
    assert not gaming.mihoyo_handshake(struct.pack("!IIIII", 0xFF, 0, 0, 1234567890, 0x14514545))  # mixed magics


# ---- Nintendo PIA
def test_nintendo_pia():
    pia = gaming.PIA_MAGIC + b"\x02" + os.urandom(60)
    f = only_flow(run([udp(pia, sport=40130, dport=40230)]))
    assert (f.app, f.use_case) == ("Nintendo", "gaming")
    assert not gaming.nintendo_pia(gaming.PIA_MAGIC + b"\x02")  # too short for a header
    assert not gaming.nintendo_pia(b"\x32\xab\x98\x65" + bytes(40))


# ---- Battle.net BNCS / Warcraft III W3GS
def bncs(msg_id: int, data: bytes, cls: int = 0xFF) -> bytes:
    return bytes([cls, msg_id]) + struct.pack("<H", 4 + len(data)) + data


def test_battle_net_messages_both_ways_on_any_port():
    client = b"\x01" + bncs(0x50, bytes(40) + b"68XI\x00") + bncs(0x25, bytes(4))  # protocol byte, AUTH_INFO, PING
    server = bncs(0x25, bytes(4)) + bncs(0x50, os.urandom(30))
    f = only_flow(run([*handshake(dport=40140), tcp(client, dport=40140), tcp(server, dport=40140, reply=True)]))
    assert (f.app, f.use_case) == ("Battle.net", "gaming")
    # the protocol byte in a segment of its own, then W3GS messages
    w3 = bncs(0x1E, os.urandom(20), cls=0xF7)
    pkts = [*handshake(dport=40141), tcp(b"\x01", dport=40141), tcp(w3, dport=40141)]
    f = only_flow(run([*pkts, tcp(bncs(0x04, os.urandom(10), cls=0xF7), dport=40141, reply=True)]))
    assert f.app == "Battle.net"


def test_battle_net_near_misses():
    msg = bncs(0x50, bytes(20))
    assert gaming.bnet_frames(msg) and gaming.bnet_frames(msg + msg)
    assert not gaming.bnet_frames(msg[:-1])  # a message cut short
    assert not gaming.bnet_frames(msg + b"\x00")  # trailing bytes
    assert not gaming.bnet_frames(b"\xff\x50\x02\x00")  # a length below the header's
    assert not gaming.bnet_frames(b"\xff\xfb\x01\xff\xfb\x03")  # telnet option negotiation
    # one side alone is not enough
    f = only_flow(run([*handshake(dport=40142), tcp(msg, dport=40142), tcp(msg, dport=40142)]))
    assert f.app != "Battle.net"


def test_gaming_block_claims_no_port_twice():
    """The gaming block's ports are new: each (transport, port) names one rule."""
    rules = load_rules(None, use_default_user=False)
    for key in (("UDP", 22023), ("UDP", 22102), ("UDP", 8181), ("TCP", 28900), ("UDP", 4534)):
        assert rules.ports[key].use_case == "gaming"
    assert rules.ports[("UDP", 5060)].use_case != "gaming"  # SIP stays voice
    assert ("UDP", 7078) not in rules.ports  # softphones' RTP range is not claimed


# ---- World of Warcraft and netcode.io, as [[payloads]] rules
def test_wow_logon_challenge_and_world_connection():
    body = b"WoW\x00" + bytes([3, 3, 5]) + struct.pack("<H", 12340) + b"68x\x00niW\x00SUne" + bytes(8) + b"\x04TEST"
    challenge = b"\x00\x08" + struct.pack("<H", len(body)) + body
    f = only_flow(run([*handshake(dport=40150), tcp(challenge, dport=40150)]))
    assert (f.app, f.use_case) == ("WorldOfWarcraft", "gaming")
    hello = b"WORLD OF WARCRAFT CONNECTION - SERVER TO CLIENT - V2\n"
    f = only_flow(run([*handshake(dport=40151), tcp(hello, dport=40151, reply=True)]))
    assert f.app == "WorldOfWarcraft"
    f = only_flow(run([*handshake(dport=40152), tcp(b"\x00\x08\x20\x00WoX\x00" + bytes(30), dport=40152)]))
    assert f.app != "WorldOfWarcraft"


def test_netcode_io_connection_request():
    request = b"\x00NETCODE 1.02\x00" + struct.pack("<QQ", 0x1122334455667788, 1700000000) + os.urandom(24 + 1024)
    assert len(request) == 1078
    f = only_flow(run([udp(request, sport=40160, dport=40260)]))
    assert (f.app, f.use_case) == ("Yojimbo", "gaming")
    f = only_flow(run([udp(b"\x00NETCODX 1.02\x00" + bytes(60), sport=40161, dport=40261)]))
    assert f.app != "Yojimbo"


def test_steam_cm_minecraft_legacy_gamespy_and_playstation_discovery():
    body = struct.pack("<I", 0x80000000 | 9805) + bytes(16)
    frame = struct.pack("<I", len(body)) + b"VT01" + body
    f = only_flow(run([*handshake(dport=40170), tcp(frame, dport=40170)]))
    assert (f.app, f.use_case) == ("Steam", "gaming")
    ping = b"\xfe\x01\xfa\x00\x0b" + "MC|PingHost".encode("utf-16-be") + struct.pack("!H", 7) + bytes(7)
    f = only_flow(run([*handshake(dport=40171), tcp(ping, dport=40171)]))
    assert (f.app, f.use_case) == ("Minecraft", "gaming")
    f = only_flow(run([udp(b"\\status\\", sport=40172, dport=40272)]))
    assert (f.app, f.use_case) == ("GameSpy", "gaming")
    srch = b"SRCH * HTTP/1.1\ndevice-discovery-protocol-version:00020020\n"
    f = only_flow(run([udp(srch, sport=40173, dport=40273)]))
    assert (f.app, f.use_case) == ("PlayStation", "gaming")
    # near misses: another magic after the length, a ping without the PingHost string
    f = only_flow(run([*handshake(dport=40174), tcp(struct.pack("<I", 20) + b"VT02" + bytes(20), dport=40174)]))
    assert f.app != "Steam"
    f = only_flow(run([*handshake(dport=40175), tcp(b"\xfe\x01\xfa\x00\x0b" + bytes(30), dport=40175)]))
    assert f.app != "Minecraft"


def test_detectors_never_raise_on_short_or_random_input():
    import random

    rnd = random.Random(12)
    samples = [b"", b"\x08", b"\x20\x01", b"\xff", b"\xf7\x01\x04", b"\x32\xab\x98\x64"]
    samples += [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 600))) for _ in range(300)]
    for pl in samples:
        gaming.hazel_hello(pl)
        gaming.hazel_ack(pl, 1)
        gaming.sns_request(pl)
        gaming.sns_reply(pl, 0x20, b"\x00\x00\x00\x00")
        gaming.mihoyo_handshake(pl)
        gaming.nintendo_pia(pl)
        gaming.bnet_frames(pl)
        gaming.bnet_frames(pl, 1)
    # and through the classifier: every first byte the gaming dispatch acts on, short and long
    pkts = []
    for i, b0 in enumerate((0x00, 0x08, 0x0A, 0x20, 0x21, 0x22, 0x23, 0x32)):
        pkts.append(udp(bytes([b0]), sport=41000 + i, dport=41100))
        pkts.append(udp(bytes([b0]) + bytes(600), sport=41000 + i, dport=41100, reply=True))
    for i, b0 in enumerate((0x01, 0xF7, 0xFF)):
        pkts += [
            *handshake(dport=41200 + i),
            tcp(bytes([b0]), dport=41200 + i),
            tcp(bytes([b0, 0, 0]), dport=41200 + i),
        ]
    run(pkts)


def test_steam_remote_play_discovery_one_way():
    disc = (
        b"\xff\xff\xff\xff\x21\x4c\x5f\xa0" + struct.pack("<I", 8) + os.urandom(8) + struct.pack("<I", 12) + bytes(12)
    )
    f = only_flow(run([udp(disc, sport=40180, dport=40280)]))
    assert (f.app, f.use_case) == ("Steam", "gaming")
    f = only_flow(run([udp(b"\xff\xff\xff\xff\x21\x4c\x5f\xa1" + bytes(20), sport=40181, dport=40281)]))
    assert f.app != "Steam"  # one connectionless packet with another magic: not enough

"""Use cases checked against nDPI 5's category table (issue 12), pinned end to end.

A flow sockscope names as nDPI does but files under another use case is a miss however good
the detector, so where nDPI's category is reasonable for what the protocol is for, ours
follows it; where nDPI is plainly wrong, ours stays and the test says so.  Each case goes
through the whole classifier: a port rule, a learned name or a built-in signature.
"""

from __future__ import annotations

import struct

from classify_helpers import client_hello, handshake, only_flow, run, tcp, udp

from tui.classify.detectors import voice

OPAQUE = bytes(range(7, 40))  # bytes no signature claims
TLS_RECORD = b"\x17\x03\x03\x00\x10" + bytes(16)  # application data of a TLS session joined late


def _rtp(seq: int) -> bytes:
    """An RTP packet (RFC 3550 5.1): V=2, dynamic payload type 96, 160 bytes of media."""
    return struct.pack("!BBHII", 0x80, 96, seq, 160 * seq, 0x5EED5EED) + b"\x55" * 160


def test_viber_ports_are_its_messaging_connection():
    # nDPI 5: Viber (default ports TCP 4244/5242/5243/7985) is Chat; its calls are ViberVoip (VoIP)
    for dport in (4244, 5242, 5243, 7985):
        f = only_flow(run([*handshake(dport=dport), tcp(OPAQUE, dport=dport)]))
        assert (f.app, f.use_case) == ("Viber", "messaging"), dport
    f = only_flow(run([*handshake(dport=5242), tcp(TLS_RECORD, dport=5242)]))
    assert (f.app, f.use_case) == ("TLS", "messaging")  # an opaque carrier takes the port's use case
    for dport in (5242, 7987, 4244):  # its UDP flows are the calls (ViberVoip)
        f = only_flow(run([udp(b"\x11" + bytes(20), dport=dport)]))
        assert (f.app, f.use_case) == ("Viber", "voice"), dport


def test_a_call_on_a_viber_port_is_still_voice():
    f = only_flow(run([udp(_rtp(1), dport=5243), udp(_rtp(2), dport=5243)]))
    assert (f.app, f.use_case) == ("RTP", "voice")


def test_viber_hosts_are_messaging_imo_and_meet_stay_voice():
    for name, use in (
        ("api.viber.com", "messaging"),  # nDPI: Viber, Chat
        ("sip.imo.im", "voice"),  # nDPI: IMO, VoIP
        # nDPI files GoogleMeet under Chat (Hangouts' legacy); Meet is a video-call service whose
        # media nDPI itself calls GoogleCall (VoIP): kept voice, a disagreement on purpose
        ("meet.google.com", "voice"),
    ):
        f = only_flow(run([*handshake(), tcp(client_hello(name), dport=443)]))
        assert (f.name, f.use_case) == (name, use)


def test_bfcp_is_streaming():
    # nDPI 5: BFCP, Video. RFC 8855 header: ver 2, Hello (11), conference 7, transaction 1, user 2
    hello = struct.pack("!BBHIHH", 0x40, 11, 0, 7, 1, 2)
    ack = struct.pack("!BBHIHH", 0x50, 12, 0, 7, 1, 2)
    assert voice.bfcp_message(hello) == (7, 1)
    f = only_flow(run([udp(hello, dport=40124), udp(ack, dport=40124, reply=True)]))
    assert (f.app, f.use_case) == ("BFCP", "streaming")


def test_xmpp_stays_messaging():
    # nDPI 5 files Jabber under Web; XMPP (RFC 6120) is instant messaging: a disagreement on purpose
    stream = b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' version='1.0'>"
    f = only_flow(run([*handshake(dport=5222), tcp(stream, dport=5222)]))
    assert (f.app, f.use_case) == ("XMPP", "messaging")

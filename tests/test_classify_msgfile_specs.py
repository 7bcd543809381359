"""Messaging, file transfer and remote access detectors (issue 12), fed bytes built from the specs.

Each opening is built the way its specification lays it out (RFC 854 Telnet, TPKT/X.224 and
MS-RDPBCGR for RDP, the eMule protocol document for eDonkey, RFC 5531 for ONC RPC/NFS, Apple's
DSI header for AFP, RFC 2812 for IRC), on ports that say nothing, next to near-misses.
"""

from __future__ import annotations

import os
import struct

from classify_helpers import handshake, only_flow, run, tcp, udp

from tui.classify.detectors import filexfer, messaging, remote

FREE = 40123  # a port no rule claims


def flow_of(payload: bytes, dport: int = FREE, reply: bytes | None = None):
    pkts = [*handshake(dport=dport), tcp(payload, dport=dport)]
    if reply is not None:
        pkts.append(tcp(reply, dport=dport, reply=True))
    return only_flow(run(pkts))


# ---------------------------------------------------------------- Telnet (RFC 854, 855)
def test_telnet_negotiation_on_any_port():
    do = bytes([0xFF, 0xFD, 0x18, 0xFF, 0xFD, 0x20, 0xFF, 0xFD, 0x23, 0xFF, 0xFD, 0x27])
    f = flow_of(do)
    assert (f.app, f.use_case, f.reason) == ("Telnet", "remote_access", "telnet: telnet option negotiation")
    # a subnegotiation (terminal type) then a WILL, then text
    sb = b"\xff\xfa\x18\x00VT100\xff\xf0\xff\xfb\x01login: "
    assert remote.telnet_negotiation(sb)


def test_telnet_near_misses():
    assert not remote.telnet_negotiation(b"\xff\xfd\x18")  # a single triple
    assert not remote.telnet_negotiation(b"\xff\xfd\x18\xff\x01\x02")  # 0x01 is no command
    assert not remote.telnet_negotiation(b"\xff\xfa\x18\x00VT100")  # subnegotiation never ends
    assert not remote.telnet_negotiation(b"\xff\xff\xff\xff\x54Source Engine Query\x00")
    assert flow_of(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(40)).app != "Telnet"  # a JPEG


# ---------------------------------------------------------------- RDP (TPKT, X.224, MS-RDPBCGR)
def tpkt(x224: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def x224_cr(variable: bytes) -> bytes:
    return struct.pack("!BBHHB", 6 + len(variable), 0xE0, 0, 0, 0) + variable


NEG_REQ = struct.pack("<BBHI", 1, 0, 8, 3)  # RDP_NEG_REQ: TLS | CredSSP
NEG_RSP = struct.pack("<BBHI", 2, 0, 8, 2)


def test_rdp_connection_request_and_confirm():
    cr = tpkt(x224_cr(b"Cookie: mstshash=admin\r\n" + NEG_REQ))
    cc = tpkt(struct.pack("!BBHHB", 6 + 8, 0xD0, 0, 0x1234, 0) + NEG_RSP)
    f = flow_of(cr, reply=cc)
    assert (f.app, f.use_case) == ("RDP", "remote_access")
    assert remote.rdp_connection(tpkt(x224_cr(NEG_REQ)))  # no cookie, a negotiation request
    assert remote.rdp_connection(cc)


def test_rdp_near_misses():
    # S7comm's COTP connection request: same TPKT/X.224, TSAP parameters, no RDP negotiation
    s7 = tpkt(x224_cr(bytes.fromhex("c1020100c2020102c0010a")))
    assert not remote.rdp_connection(s7)
    assert flow_of(s7).app != "RDP"
    cr = tpkt(x224_cr(NEG_REQ))
    assert not remote.rdp_connection(cr[:-1])  # the TPKT length is not the segment's
    assert not remote.rdp_connection(b"\x03\x01" + cr[2:])  # TPKT reserved byte not zero
    bad_class = bytearray(cr)
    bad_class[10] = 0x40  # class 4
    assert not remote.rdp_connection(bytes(bad_class))


# ---------------------------------------------------------------- TeamViewer
def test_teamviewer_datagrams_both_ways():
    def dgram(kind: int) -> bytes:
        return bytes(10) + b"\x03\x17\x24" + bytes([kind]) + os.urandom(30)

    out, back = udp(dgram(0x47), sport=34417, dport=36037), udp(dgram(0x47), sport=34417, dport=36037, reply=True)
    f = only_flow(run([out, back]))
    assert (f.app, f.use_case) == ("TeamViewer", "remote_access")
    # one direction only, or the magic elsewhere: not enough
    f = only_flow(run([udp(dgram(0x47), sport=34417, dport=36037), udp(dgram(0x47), sport=34417, dport=36037)]))
    assert f.app != "TeamViewer"
    assert not remote.teamviewer_datagram(bytes(10) + b"\x03\x24\x17" + bytes(30))


# ---------------------------------------------------------------- eDonkey / eMule
def edonkey(opcode: int, body: bytes, proto: int = 0xE3) -> bytes:
    return bytes([proto]) + struct.pack("<I", 1 + len(body)) + bytes([opcode]) + body


def test_edonkey_hello_on_any_port():
    hello = edonkey(0x01, b"\x10" + os.urandom(16) + struct.pack("<IH", 0x0A000001, 4662) + b"\x02\x00\x00\x00")
    answer = edonkey(0x4C, os.urandom(16) + struct.pack("<IH", 0x0A000002, 4662) + b"\x00\x00\x00\x00")
    f = flow_of(hello, dport=7551, reply=answer)
    assert (f.app, f.use_case, f.reason) == ("eDonkey", "file_transfer", "edonkey: edonkey hello")
    assert filexfer.edonkey_hello(edonkey(0x01, os.urandom(30), proto=0xC5))


def test_edonkey_near_misses():
    hello = edonkey(0x01, b"\x10" + os.urandom(30))
    assert not filexfer.edonkey_hello(hello[:-1])  # shorter than its length says
    assert not filexfer.edonkey_hello(edonkey(0x58, os.urandom(30)))  # not an opening opcode
    assert not filexfer.edonkey_hello(b"\xe3" + struct.pack("<I", 5) + b"\x01" + bytes(30))  # too short for a hash
    assert not filexfer.edonkey_hello(b"\xe3" + os.urandom(40))


# ---------------------------------------------------------------- NFS over ONC RPC (RFC 5531)
def rpc_call(prog: int, vers: int, proc: int = 0, body: bytes = b"") -> bytes:
    cred = struct.pack("!II", 0, 0) * 2  # AUTH_NONE credentials and verifier
    msg = struct.pack("!IIIIII", 0x1234ABCD, 0, 2, prog, vers, proc) + cred + body
    return struct.pack("!I", 0x80000000 | len(msg)) + msg


def test_nfs_call_on_any_port():
    f = flow_of(rpc_call(100003, 3, 1, os.urandom(36)))
    assert (f.app, f.use_case, f.reason) == ("NFS", "file_transfer", "nfs: onc rpc call to an nfs program")
    assert filexfer.nfs_call(rpc_call(100005, 3))  # mountd


def test_nfs_near_misses():
    assert not filexfer.nfs_call(rpc_call(100000, 2))  # the portmapper is not NFS
    assert not filexfer.nfs_call(rpc_call(100003, 9))  # no such NFS version
    reply = bytearray(rpc_call(100003, 3))
    reply[8:12] = b"\x00\x00\x00\x01"  # a reply, not a call
    assert not filexfer.nfs_call(bytes(reply))
    no_mark = bytearray(rpc_call(100003, 3))
    no_mark[0] = 0x00  # not the last fragment and 0x80 is gone: not a record mark we take
    assert not filexfer.nfs_call(bytes(no_mark))


# ---------------------------------------------------------------- AFP over DSI
def dsi(flags: int, cmd: int, data: bytes, offset: int = 0) -> bytes:
    return struct.pack("!BBHIII", flags, cmd, 1, offset, len(data), 0) + data


def test_afp_dsi_opensession():
    req = dsi(0, 4, b"\x01\x04\x00\x00\x04\x00")  # OpenSession with the attention quantum option
    rsp = dsi(1, 4, b"\x00\x04\x00\x10\x00\x00")
    f = flow_of(req, reply=rsp)
    assert (f.app, f.use_case) == ("AFP", "file_transfer")
    assert filexfer.dsi_opening(dsi(0, 3, b""))  # GetStatus


def test_afp_near_misses():
    assert not filexfer.dsi_opening(dsi(0, 2, b"\x00" * 8))  # a Command is no opening
    assert not filexfer.dsi_opening(dsi(0, 4, b"\x01\x04\x00\x00\x04\x00")[:-1])  # length does not fit
    assert not filexfer.dsi_opening(dsi(2, 4, b""))  # no such flags
    assert not filexfer.dsi_opening(struct.pack("!BBHIII", 0, 4, 1, 0, 0, 7))  # reserved not zero


# ---------------------------------------------------------------- IRC (RFC 1459, 2812)
def test_irc_server_and_client_lines():
    f = flow_of(b"USER guest 0 * :Ronnie Reagan\r\nNICK ronnie\r\n", dport=7000)
    assert (f.app, f.use_case) == ("IRC", "messaging")
    welcome = b":irc.example.net 001 ronnie :Welcome to the Internet Relay Network ronnie\r\n"
    assert messaging.irc_line(welcome)
    assert messaging.irc_line(b":irc.example.net NOTICE * :*** Looking up your hostname...\r\n")
    f = only_flow(run([*handshake(dport=7000), tcp(welcome, dport=7000, reply=True)]))
    assert f.app == "IRC"


def test_irc_near_misses():
    assert not messaging.irc_line(b"USER anonymous\r\n")  # FTP's USER: one parameter
    assert not messaging.irc_line(b":irc.example.net 1001 x :y\r\n")  # numerics have 3 digits
    assert not messaging.irc_line(b":irc.example.net FOO x\r\n")
    assert not messaging.irc_line(b"NICK ")  # no line end
    assert not messaging.irc_line(b": 001 x\r\n")  # an empty prefix
    assert not messaging.irc_line(b"\r" * 300 + b"\n:x 001 y\r\n")  # a first line of CRs only (fuzz case)
    assert flow_of(b"PUT /x HTTP/1.1\r\nHost: a\r\n\r\n").app != "IRC"


def test_irc_yields_to_text_protocols_ports_only():
    """FTP's and POP3's PASS is also IRC's: on their ports the port's protocol stays; on a web
    port (HTTP's 8000, which IRC networks also listen on) the IRC line decides."""
    assert flow_of(b"PASS secret\r\n", dport=21).app == "FTP"
    assert flow_of(b"PASS secret\r\n", dport=110).use_case == "mail"
    f = flow_of(b"USER guest 0 * :Ronnie Reagan\r\nNICK ronnie\r\n", dport=8000)
    assert (f.app, f.use_case) == ("IRC", "messaging")
    assert flow_of(b"NICK ronnie\r\n", dport=8080).app == "IRC"


# ---------------------------------------------------------------- AnyDesk, Direct Connect, ports
def test_anydesk_certificate_from_either_end():
    cert = b"\x16\x03\x03\x04\x00\x0b" + os.urandom(40) + b"\x06\x03\x55\x04\x03\x0c\x0eAnyDesk Client" + os.urandom(40)
    hello = b"\x16\x03\x01\x00\x2d\x01\x00\x00\x29\x03\x03" + bytes(32) + b"\x00\x00\x02\x00\x2f\x01\x00"
    pkts = [*handshake(dport=FREE), tcp(hello, dport=FREE), tcp(cert, dport=FREE)]
    f = only_flow(run(pkts))
    assert (f.app, f.use_case) == ("AnyDesk", "remote_access")
    pkts = [*handshake(dport=FREE), tcp(hello, dport=FREE), tcp(cert.replace(b"AnyDesk", b"AnyDisk"), dport=FREE)]
    assert only_flow(run(pkts)).app != "AnyDesk"


def test_direct_connect_and_ports():
    f = flow_of(b"$MyNick alice|$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=DCPLUSPLUS0.777|")
    assert (f.app, f.use_case) == ("Direct Connect", "file_transfer")
    f = flow_of(b"HSUP ADBASE ADTIGR\n")
    assert f.app == "Direct Connect"
    assert only_flow(run(handshake(dport=194))).use_case == "messaging"
    assert only_flow(run(handshake(dport=1494))).use_case == "remote_access"
    assert only_flow(run(handshake(dport=3260))).use_case == "file_transfer"


# ---------------------------------------------------------------- FTP or SMTP after a bare 220 (RFC 959, 5321)
def _greeted(greeting: bytes, command: bytes | None, dport: int = FREE):
    pkts = [*handshake(dport=dport), tcp(greeting, dport=dport, reply=True)]
    if command is not None:
        pkts.append(tcp(command, dport=dport))
    return only_flow(run(pkts))


def test_a_greeting_naming_neither_waits_for_the_clients_command():
    """Both protocols greet with 220; on a port that says nothing, the client's first command
    decides: FTP's USER or AUTH TLS (RFC 4217) or FEAT, SMTP's EHLO/HELO."""
    for command in (b"USER anonymous\r\n", b"AUTH TLS\r\n", b"FEAT\r\n", b"user ftp\r\n"):
        f = _greeted(b"220 Welcome to the archive\r\n", command)
        assert (f.app, f.use_case, f.reason) == ("FTP", "file_transfer", "ftp: 220 greeting and ftp command"), command
    for command in (b"EHLO client.example.net\r\n", b"HELO client\r\n", b"QUIT\r\n"):
        f = _greeted(b"220 Welcome to the archive\r\n", command)
        assert (f.app, f.use_case) == ("SMTP", "mail"), command
    assert _greeted(b"220 Welcome\r\n", None).app == "SMTP"  # no command seen: the greeting's guess
    # a capture that begins with the greeting (the server is the end first seen)
    mid = only_flow(run([tcp(b"220 Welcome\r\n", dport=FREE, reply=True), tcp(b"USER x\r\n", dport=FREE)]))
    assert (mid.app, mid.sport) == ("FTP", FREE)  # the flow begins at the server


def test_a_greeting_that_names_its_protocol_or_a_port_that_does_decides_at_once():
    assert _greeted(b"220 mx.example.org ESMTP Postfix\r\n", b"USER x\r\n").app == "SMTP"
    assert _greeted(b"220 (vsFTPd 3.0.5)\r\n", b"EHLO x\r\n").app == "FTP"
    assert _greeted(b"220 Welcome\r\n", b"USER x\r\n", dport=25).app == "SMTP"  # SMTP's port
    assert _greeted(b"220 Welcome\r\n", b"EHLO x\r\n", dport=21).app == "FTP"  # FTP's port

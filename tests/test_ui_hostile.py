"""Hostile bytes: names with Rich markup, terminal escapes and invalid UTF-8 show literally.

The capture is built here with scapy: a DNS query and an HTTP request whose name, Host
and request line carry ``[bold red]``, ANSI escapes and bytes that are not UTF-8.
"""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap
from textual.widgets import Tree
from ui_support import replayed, screen_text, settle, ui_test

from tui.app import SockscopeApp
from tui.screens.packet import PacketScreen
from tui.textsafe import safe_str
from tui.widgets.packets import PacketsPanel

pytestmark = pytest.mark.timeout(120)

DNS_NAME = b"[bold red]pwn\x1b[2J\xff.example"
HOST = b"[link=http://x]h[/link]\x1b]0;title\x07\xfe.example"
REQUEST_LINE = b"GET /[blink]\x1b[31mred\x9b HTTP/1.1"


def hostile_pcap(path) -> None:
    cli, srv = "192.0.2.1", "192.0.2.2"
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = [eth / IP(src=cli, dst=srv) / UDP(sport=40000, dport=53) / DNS(rd=1, qd=DNSQR(qname=DNS_NAME))]
    seq = 1000
    frames += [
        eth / IP(src=cli, dst=srv) / TCP(sport=40001, dport=80, flags="S", seq=seq),
        eth / IP(src=srv, dst=cli) / TCP(sport=80, dport=40001, flags="SA", seq=5000, ack=seq + 1),
        eth / IP(src=cli, dst=srv) / TCP(sport=40001, dport=80, flags="A", seq=seq + 1, ack=5001),
        eth
        / IP(src=cli, dst=srv)
        / TCP(sport=40001, dport=80, flags="PA", seq=seq + 1, ack=5001)
        / (REQUEST_LINE + b"\r\nHost: " + HOST + b"\r\nUser-Agent: [i]x\r\n\r\n"),
    ]
    for i, f in enumerate(frames):
        f.time = 1_700_000_000 + i * 0.01
    wrpcap(str(path), frames)


def assert_safe(text: str) -> None:
    """No raw control characters reached the screen."""
    bad = [c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad, f"raw control characters on screen: {bad!r}"


@ui_test
async def test_hostile_names_show_literally_in_the_monitor(tmp_path):
    path = tmp_path / "hostile.pcap"
    hostile_pcap(path)
    args, engine = replayed(path)
    app = SockscopeApp(args, engine=engine, watch_links=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert_safe(text)
        # The DNS name in the packet summary: markup literal, ESC and 0xff visible.
        assert "DNS [bold red]pwn\\e[2J\\xff.example" in text
        # The HTTP request line in the packet summary (0x9b is a C1 control: CSI).
        assert "GET /[blink]\\e[31mred\\x9b HTTP/1.1" in text
        # Whatever name the classifier took from the wire, the flows panel shows it made safe.
        names = [f.name for f in app.engine.snapshot().flows if f.name]
        assert names
        for name in names:
            assert safe_str(name) in text

        # The packet detail: scapy's dissection of the DNS packet, equally literal.
        packets = app.screen.query_one(PacketsPanel)
        dns_key = next(k for k, row in packets.packets.items() if b"pwn" in row.data and row.data[23] == 17)
        packets.focus()
        packets.move_cursor(row=packets.keys_in_order().index(dns_key))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PacketScreen)
        app.screen.query_one(Tree).root.expand_all()
        await settle(pilot)
        detail = screen_text(app)
        assert_safe(detail)
        labels = []

        def walk(node) -> None:
            labels.append(str(node.label))
            for child in node.children:
                walk(child)

        walk(app.screen.query_one(Tree).root)
        # scapy's repr of the name (in the DNS question), shown as is
        assert any("[bold red]pwn\\x1b[2J\\xff" in label for label in labels), labels
        assert all("\x1b" not in label and "\x9b" not in label for label in labels)

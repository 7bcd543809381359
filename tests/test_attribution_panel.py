"""Traffic per process and per container, and the Processes panel that shows it.

Flows come from the real engine fed with scapy-built frames; their owners are set the
way the attributor sets them (the attributor itself is tested live elsewhere).
"""

from __future__ import annotations

import asyncio

import pytest
from scapy.all import IP, TCP, UDP, Ether, raw
from textual.app import App, ComposeResult

from tui import linktypes as lt
from tui.attribution.attributor import SOCKET_GONE, Owner
from tui.attribution.usage import BY_CONTAINER, usage
from tui.engine import Engine
from tui.snapshot import IN, OUT
from tui.widgets.processes import ProcessesPanel, row_key

pytestmark = pytest.mark.timeout(60)

LOCAL, REMOTE = "192.0.2.1", "192.0.2.2"
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def frame(ts: float, pkt, direction: int) -> tuple:
    data = raw(pkt)
    return (int(ts * 1e9), 1, direction, len(data), data, lt.ETHERNET)


def build_engine() -> tuple[Engine, dict[int, Owner]]:
    """Three flows: curl (client, 3 out / 2 in), nginx in docker (server), one never seen."""
    e = Engine(idle_timeout=None)
    t = 1_700_000_000.0
    frames = []
    for i in range(3):  # curl -> remote:443, local end is src
        frames.append(frame(t + i, ETH / IP(src=LOCAL, dst=REMOTE) / TCP(sport=50000, dport=443) / (b"a" * 100), OUT))
    for i in range(2):
        frames.append(frame(t + i, ETH / IP(src=REMOTE, dst=LOCAL) / TCP(sport=443, dport=50000) / (b"b" * 10), IN))
    for i in range(4):  # remote -> nginx:80, local end is dst
        frames.append(frame(t + i, ETH / IP(src=REMOTE, dst=LOCAL) / TCP(sport=40000, dport=80) / (b"c" * 50), IN))
    frames.append(frame(t + 5, ETH / IP(src=LOCAL, dst=REMOTE) / TCP(sport=80, dport=40000) / (b"d" * 500), OUT))
    frames.append(frame(t + 6, ETH / IP(src=LOCAL, dst=REMOTE) / UDP(sport=5353, dport=53) / (b"q" * 30), OUT))
    e.process(frames)
    curl = Owner(100, "curl", "alice", None, "curl https://x", 1000, local_src=True)
    nginx = Owner(200, "nginx", "www-data", "docker:web", "nginx", 33, local_src=False)
    for f in e.table:
        if f.proto == "TCP" and 443 in (f.sport, f.dport):
            f.owner = curl
        elif f.proto == "TCP":
            f.owner = nginx
        else:
            f.owner = Owner.unknown(SOCKET_GONE)
    return e, {100: curl, 200: nginx}


def test_usage_counts_in_and_out_from_the_owners_side():
    e, _ = build_engine()
    rows = {u.label: u for u in usage(e.snapshot().flows)}
    curl, nginx = rows["curl"], rows["nginx"]
    assert (curl.pid, curl.user, curl.flows) == (100, "alice", 1)
    assert (curl.packets_out, curl.packets_in) == (3, 2)
    assert curl.bytes_out == 3 * (14 + 20 + 20 + 100) and curl.bytes_in == 2 * (14 + 20 + 20 + 10)
    # nginx's socket is the flow's dst end: the 4 first packets came in, its answer went out
    assert (nginx.packets_in, nginx.packets_out) == (4, 1)
    assert nginx.bytes_in == 4 * (14 + 20 + 20 + 50) and nginx.bytes_out == 14 + 20 + 20 + 500
    assert nginx.container == "docker:web"
    unknown = rows[f"unknown: {SOCKET_GONE}"]
    assert not unknown.known and unknown.pid is None and unknown.packets_out == 1
    assert list(rows) == ["nginx", "curl", f"unknown: {SOCKET_GONE}"]  # known first, by bytes
    by_container = {u.label: u for u in usage(e.snapshot().flows, BY_CONTAINER)}
    assert by_container["docker:web"].pids == 1 and by_container["(no container)"].flows == 1


def test_flows_without_lookup_are_left_out():
    e = Engine(idle_timeout=None)
    e.process([frame(1.0, ETH / IP(src=LOCAL, dst=REMOTE) / UDP(sport=1, dport=2), OUT)])
    assert usage(e.snapshot().flows) == []


class PanelApp(App):
    def compose(self) -> ComposeResult:
        yield ProcessesPanel(id="procs")


def test_panel_rows_follow_snapshots_and_group_by_container():
    asyncio.run(_panel_rows())


async def _panel_rows() -> None:
    e, owners = build_engine()
    for f in e.table:  # a hostile process name must reach the screen inert
        if f.owner is owners[100]:
            f.owner = Owner(100, "cu\x1b[31mrl[/]", "alice", None, local_src=True)
    app = PanelApp()
    async with app.run_test(size=(140, 20)) as pilot:
        panel = app.query_one(ProcessesPanel)
        panel.update(e.snapshot())
        await pilot.pause()
        assert panel.row_count == 3
        cells = [str(c) for c in panel.get_row(row_key(("p", 100, "cu\x1b[31mrl[/]")))]
        assert cells[0].strip() == "cu\\e[31mrl[/]" and cells[1].strip() == "100"
        assert cells[2].strip() == "alice"
        assert panel.border_title == "Processes"
        panel.focus()
        await pilot.press("g")
        await pilot.pause()
        assert panel.border_title == "Containers"
        assert set(panel.usage_rows) == {("c", "docker:web"), ("c", "host"), ("u", SOCKET_GONE)}
        # a later snapshot with more traffic shows a rate
        e.process([frame(1_700_000_010.0, ETH / IP(src=LOCAL, dst=REMOTE) / TCP(sport=80, dport=40000), OUT)])
        panel.update(e.snapshot())
        await pilot.pause()
        assert panel.usage_rows[("c", "docker:web")].packets_out == 2

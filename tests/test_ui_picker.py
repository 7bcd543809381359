"""The interface picker: real links from the kernel, live updates, filtering, and live capture."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import netns as _netns
import pytest
from ui_support import options, screen_text, settle, ui_test

from tui.app import SockscopeApp
from tui.interfaces import LinkInfo, list_links
from tui.screens.monitor import MonitorScreen
from tui.screens.picker import PickerScreen

pytestmark = pytest.mark.timeout(120)


def test_list_links_reports_loopback_and_a_test_veth(netns):
    links = {li.name: li for li in list_links()}
    lo = links["lo"]
    assert lo.kind == "loopback" and lo.mtu > 0 and "127.0.0.1/8" in lo.ipv4
    veth = links[netns.host]
    assert veth.kind == "veth" and veth.admin_up and veth.mac.count(":") == 5
    assert f"{netns.host_ip}/30" in veth.ipv4
    assert any(a.startswith(netns.host_ip6) for a in veth.ipv6)


async def _wait_for(pilot, cond, timeout: float) -> float:
    """Seconds until ``cond()`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


@ui_test
async def test_picker_lists_links_and_follows_netlink_events(net_raw):
    reason = _netns.can_make_netns()
    if reason:
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    app = SockscopeApp(options())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        table = picker.query_one("#links")
        keys = table.keys_in_order()
        assert keys[0] == "any" and "lo" in keys
        picker.query_one("#picker-filter").value = ""
        ns = _netns.create("pk")
        try:
            # A new link shows within a second, with no key pressed.
            took = await _wait_for(pilot, lambda: ns.host in table.keys_in_order(), 1.0)
            assert took < 1.0
            _netns.run("ip", "link", "set", ns.host, "down")
            await _wait_for(pilot, lambda: "down" in table.row_cells(ns.host)[2].plain, 1.0)
        finally:
            _netns.destroy(ns)
        await _wait_for(pilot, lambda: ns.host not in table.keys_in_order(), 1.0)


@ui_test
async def test_type_to_filter_home_end_and_enter_start_live_capture(netns):
    ns = netns
    app = SockscopeApp(options(), watch_links=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#links")
        await pilot.press(*ns.host)  # typing filters: the veth is the only match
        await settle(pilot)
        assert table.keys_in_order() == [ns.host]
        await pilot.press("escape")  # clears the filter, back to the table
        await settle(pilot)
        assert len(table.keys_in_order()) > 2 and app.focused is table
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.selected_key() == "any"
        await pilot.press("slash", *ns.host, "enter")
        await settle(pilot)
        assert table.selected_key() == ns.host
        await pilot.press("enter")
        await _wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 3.0)
        monitor = app.screen
        assert app.engine.snapshot(top=0).source_name == ns.host
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            s.sendto(b"sockscope-ui-test", (ns.peer_ip, 9))
        s.close()
        # Paced by hand: the capture thread keeps the process busy, so no pilot.press here.
        await _wait_for(pilot, lambda: monitor.last is not None and monitor.last.packets >= 20, 5.0)
        assert any(f.dport == 9 and f.proto == "UDP" for f in monitor.last.flows)
        assert ns.host in screen_text(app)
        app.exit()


@ui_test
async def test_capture_error_stays_in_the_picker_with_the_reason():
    app = SockscopeApp(options("-i", "nosuchif0"), watch_links=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        assert "nosuchif0" in screen_text(app)


def test_picker_cells_for_a_fixed_link():
    li = LinkInfo(7, "eth9", "ethernet", "up", True, True, "02:00:00:00:00:09", 1500, ("192.0.2.9/24",), (), 0, 0, 0, 0)
    screen = PickerScreen(links=lambda: [li], watch=False)
    cells = screen._row_cells(li)
    plain = [c.plain for c in cells[:6]]
    assert plain == ["eth9", "ethernet", "up", "02:00:00:00:00:09", "1500", "192.0.2.9/24"]


NO_PRIV_SCRIPT = r"""
import asyncio, os, sys
sys.path.insert(0, {tests!r}); sys.path.insert(0, {repo!r})
from ui_support import options, screen_text, DEMO
from tui.app import SockscopeApp
async def main():
    app = SockscopeApp(options(), watch_links=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(5):
            await pilot.pause(0.05)
        print(screen_text(app))
        app.start_live("lo")
        for _ in range(5):
            await pilot.pause(0.05)
        print(type(app.screen).__name__)
        print(screen_text(app))
asyncio.run(main())
"""


def test_without_cap_net_raw_the_picker_explains_and_still_lists(tmp_path):
    """The app runs with CAP_NET_RAW taken out of its bounding set (setpriv), as root or not."""
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        print("SKIP: setpriv (util-linux) is not installed", file=sys.stderr)
        pytest.skip("setpriv (util-linux) is not installed")
    here = os.path.dirname(os.path.abspath(__file__))
    script = NO_PRIV_SCRIPT.format(tests=here, repo=os.path.dirname(here))
    out = subprocess.run(
        [setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "CAP_NET_RAW" in text and "sudo" in text and "setcap" in text
    assert " lo " in text  # interfaces are still listed
    assert "PickerScreen" in text  # choosing one keeps the picker, with the reason

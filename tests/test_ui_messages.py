"""Threads talk to the UI with typed messages (tui.messages); the monitor's view state is
reactive (tui.screens.monitor, tui.widgets.*). Real app, demo replay, real threads."""

from __future__ import annotations

import threading

import pytest
from ui_support import DEMO, options, replayed, screen_text, settle, ui_test

from tui.app import SockscopeApp
from tui.interfaces import LinkInfo
from tui.messages import LinksChanged, NamespacesListed, SnapshotSaved
from tui.netns_list import Namespace, NamespaceInterface
from tui.screens.monitor import MonitorScreen
from tui.screens.picker import PickerScreen
from tui.widgets.flows import FlowsPanel
from tui.widgets.header import HeaderPanel
from tui.widgets.packets import PacketsPanel

pytestmark = pytest.mark.timeout(120)

LINK = LinkInfo(7, "eth9", "ethernet", "up", True, True, "02:00:00:00:00:09", 1500, ("192.0.2.9/24",), (), 0, 0, 0, 0)


def _from_thread(fn) -> None:
    t = threading.Thread(target=fn, name="test-poster")
    t.start()
    t.join(5)


async def _until(pilot, cond, what: str) -> None:
    for _ in range(100):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


@ui_test
async def test_picker_takes_links_and_namespaces_from_other_threads():
    app = SockscopeApp(options(), watch_links=False, links=lambda: [LINK], namespaces=lambda: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        before = picker.reloads
        _from_thread(lambda: [picker.post_message(LinksChanged()) for _ in range(50)])
        await _until(pilot, lambda: picker.reloads > before, "a reload after LinksChanged")
        iface = NamespaceInterface(3, "veth-t0", "veth", "up", ("198.51.100.2",))
        ns = Namespace(4026532999, "test-ns", "named", "/run/netns/test-ns", (), (iface,))
        _from_thread(lambda: picker.post_message(NamespacesListed([ns])))
        await _until(pilot, lambda: picker.other_namespaces == [ns], "the namespace listed")
        await settle(pilot)
        assert "veth-t0" in screen_text(app) and picker.namespace_error is None
        _from_thread(lambda: picker.post_message(NamespacesListed(None, "OSError: no netns")))
        await _until(pilot, lambda: picker.namespace_error == "OSError: no netns", "the listing error")
        assert picker.other_namespaces == [ns]  # a failed listing keeps the last good one
        app.exit()


@ui_test
async def test_a_message_to_a_closed_screen_is_dropped_quietly():
    args, engine = replayed(DEMO)
    app = SockscopeApp(args, engine=engine, watch_links=False, links=lambda: [LINK], namespaces=lambda: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_picker(back=True)
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MonitorScreen)
        results: list[bool] = []
        _from_thread(lambda: results.append(picker.post_message(NamespacesListed([]))))
        assert results == [False]  # not delivered, and no exception on the posting thread
        app.exit()


@ui_test
async def test_snapshot_notice_reaches_the_app_after_the_monitor_is_left(tmp_path):
    args, engine = replayed(DEMO, "--snapshot-dir", str(tmp_path))
    app = SockscopeApp(args, engine=engine, watch_links=False, links=lambda: [LINK], namespaces=lambda: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_picker(back=True)  # the monitor is no longer on screen
        await settle(pilot)
        _from_thread(lambda: app.post_message(SnapshotSaved("Saved 9 packets to /x", "information")))
        await _until(pilot, lambda: any("Saved 9" in n.message for n in app._notifications), "the notice")
        app.exit()


@ui_test
async def test_view_state_is_reactive_and_bound_to_the_panels():
    args, engine = replayed(DEMO)
    app = SockscopeApp(args, engine=engine, watch_links=False, lookup=lambda addr: None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monitor = app.screen
        header, flows, packets = (
            monitor.query_one(HeaderPanel),
            monitor.query_one(FlowsPanel),
            monitor.query_one(PacketsPanel),
        )
        monitor.display_filter = "dns"
        await settle(pilot)
        assert flows.filter_text == packets.filter_text == header.display_filter == "dns"
        assert flows.shown and all("dns" in f.use_case or "dns" in (f.app or "").lower() for f in flows.flows.values())
        assert "filter dns" in str(flows.border_subtitle)
        monitor.display_filter = ""
        await pilot.press("space")
        await settle(pilot)
        assert monitor.paused and header.paused and "PAUSED" in screen_text(app)
        await pilot.press("space")
        await pilot.press("n")
        await settle(pilot)
        assert header.names and flows.names is not None and "rDNS" in screen_text(app)
        await pilot.press("B")  # bytes again: the direction flips
        await settle(pilot)
        assert flows.sort_by == ("bytes", False) and "sort bytes ↑" in str(flows.border_subtitle)
        sizes = [f.bytes for f in flows.flows.values()]
        assert sizes == sorted(sizes)
        app.exit()

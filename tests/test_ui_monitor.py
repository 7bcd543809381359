"""The monitor driven by its keys, on a replayed capture (the shipped demo: always present)."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Tree
from ui_support import DEMO, replayed, screen_text, settle, ui_test

from tui.app import SockscopeApp
from tui.screens.flow import FlowScreen
from tui.screens.help import HelpScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.packet import PacketScreen
from tui.screens.picker import PickerScreen
from tui.widgets.flows import FlowsPanel
from tui.widgets.header import HeaderPanel
from tui.widgets.packets import PacketsPanel
from tui.widgets.use_cases import UseCasesPanel

pytestmark = pytest.mark.timeout(120)


def demo_app(*extra: str, **kw) -> SockscopeApp:
    args, engine = replayed(DEMO, *extra)
    return SockscopeApp(args, engine=engine, watch_links=False, **kw)


@ui_test
async def test_monitor_shows_totals_use_cases_flows_and_packets():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        snap = app.engine.snapshot()
        text = screen_text(app)
        assert "ENDED" in text and "demo.pcapng" in text
        assert f"{snap.packets} pkts" in text
        flows = screen.query_one(FlowsPanel)
        assert flows.row_count == len(snap.flows)  # every flow of the demo, keyed by id
        assert set(flows.flows) == {f.id for f in snap.flows}
        uc = screen.query_one(UseCasesPanel)
        assert uc.row_count == 11
        tail = screen.query_one(PacketsPanel)  # a live tail: the newest packets that fit
        assert tail.row_count == min(tail.visible_rows(), snap.packets)
        assert max(tail.packets) == snap.packets  # the newest packet is there
        for label in ("Use cases", "Protocols", "Flows", "Packets", "Rate"):
            assert label in text
        # The largest flow comes first (bytes, descending).
        assert flows.selected_key() == snap.flows[0].id


@ui_test
async def test_rows_are_updated_in_place_not_rebuilt():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        flows = app.screen.query_one(FlowsPanel)
        before = {key: id(flows.get_row(str(key))[0]) for key in flows.flows}
        app.screen.refresh_panels()
        await settle(pilot)
        after = {key: id(flows.get_row(str(key))[0]) for key in flows.flows}
        assert before == after  # same cell objects: nothing changed, nothing was touched


@ui_test
async def test_pause_freezes_the_screen_not_the_capture():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("space")
        assert screen.paused
        assert "PAUSED" in screen_text(app)
        shown = screen.last
        n = len(screen.refresh_times)
        await pilot.pause(0.6)
        assert len(screen.refresh_times) == n and screen.last is shown
        app.engine.process([app.engine.ring_frames()[0]])  # the engine still counts underneath
        assert app.engine.snapshot(top=0).packets == shown.packets + 1
        await pilot.press("space")
        await settle(pilot)
        assert not screen.paused and screen.last.packets == shown.packets + 1
        assert "PAUSED" not in screen_text(app)


@ui_test
async def test_clear_resets_counters_and_tables():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert app.engine.snapshot(top=0).packets == 0
        assert app.screen.query_one(FlowsPanel).row_count == 0
        assert "0 pkts" in screen_text(app)


@ui_test
async def test_sort_keys_order_the_flows_and_flip_on_second_press():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        flows = app.screen.query_one(FlowsPanel)

        def order() -> list:
            return flows.keys_in_order()

        await pilot.press("K")  # packets, largest first
        by_packets = order()
        counts = [flows.flows[k].packets for k in by_packets]
        assert counts == sorted(counts, reverse=True)
        await pilot.press("K")
        counts = [flows.flows[k].packets for k in order()]
        assert counts == sorted(counts)
        await pilot.press("P")  # protocol, A to Z
        protos = [flows.flows[k].proto for k in order()]
        assert protos == sorted(protos)
        assert "sort proto" in str(flows.border_subtitle)


@ui_test
async def test_display_filter_and_type_to_filter():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        flows = app.screen.query_one(FlowsPanel)
        packets = app.screen.query_one(PacketsPanel)
        total = flows.row_count
        await pilot.press("slash", *"udp", "enter")
        await settle(pilot)
        assert 0 < flows.row_count < total
        assert all(f.proto == "UDP" for f in flows.flows.values())
        assert packets.row_count and all("UDP" in packets.parts(p)[1] for p in packets.packets.values())
        assert "show udp" in screen_text(app)
        # Escape in the bar clears it.
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert flows.row_count == total
        # Type-to-filter: an unbound printable key opens the bar with that key.
        await pilot.press(*"tcp")
        await settle(pilot)
        assert app.screen.query_one("#filter").value == "tcp"
        assert all(f.proto == "TCP" for f in flows.flows.values())


@ui_test
async def test_enter_on_a_packet_opens_its_dissection():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")  # the packets panel
        packets = app.screen.query_one(PacketsPanel)
        assert app.focused is packets
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PacketScreen)
        tree = app.screen.query_one(Tree)
        layers = [str(node.label) for node in tree.root.children]
        assert layers[0] == "Ethernet" and layers[1] in ("IP", "IPv6")
        assert "0000  " in screen_text(app)  # the hex dump
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen)


@ui_test
async def test_enter_on_a_flow_opens_counters_reason_and_its_packets():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        flows = app.screen.query_one(FlowsPanel)
        key = flows.selected_key()
        flow = flows.flows[key]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowScreen)
        text = screen_text(app)
        assert "→ sent" in text and "why" in text
        table = app.screen.query_one("#flow-packets")
        assert table.row_count == min(flow.packets, 5000)
        assert all(r.flow_id == flow.id for r in table.packets.values())
        await pilot.press("enter")  # and on to one of its packets
        await settle(pilot)
        assert isinstance(app.screen, PacketScreen)


@ui_test
async def test_help_lists_every_key_and_the_palette_has_them():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for words in (
            "Pause/resume",
            "Clear counters",
            "Interface",
            "Filter",
            "Snapshot",
            "Sort flows by bytes",
            "Quit",
        ):
            assert words in text
        await pilot.press("escape")
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Pause/resume" in commands and "Sort flows by rate" in commands and "Snapshot" in commands


@ui_test
async def test_change_interface_opens_the_picker_and_escape_returns(monkeypatch):
    from tui.interfaces import list_links

    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monitor = app.screen
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        names = {li.name for li in list_links()}
        table = app.screen.query_one("#links")
        assert set(table.keys_in_order()) >= names | {"any"}
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is monitor


@ui_test
async def test_snapshot_key_saves_files_and_says_where(tmp_path):
    app = demo_app("--snapshot-dir", str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await settle(pilot)
        folders = [p for p in tmp_path.iterdir() if p.is_dir()]
        assert len(folders) == 1
        files = {p.name for p in folders[0].iterdir()}
        assert {"capture.pcapng", "summary.json", "screen.svg"} <= files
        summary = json.loads((folders[0] / "summary.json").read_text())
        assert summary["packets"] == app.engine.snapshot(top=0).packets
        messages = [n.message for n in app._notifications]
        assert any(str(folders[0]) in m and "packets" in m for m in messages)


@ui_test
async def test_snapshot_failure_is_a_notification_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    app = demo_app("--snapshot-dir", str(blocker / "sub"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert isinstance(app.screen, MonitorScreen)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "not saved" in errors[-1].message.lower()


@ui_test
async def test_compact_layout_at_80x24_shows_one_panel_at_a_time():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-compact")
        visible = [p.id for p in screen.query(".panel") if p.display and p.has_class("-shown")]
        assert visible == ["flows"]
        await pilot.press("1")
        await settle(pilot)
        assert "web" in screen_text(app) and "name lookup" in screen_text(app)
        await pilot.press("5")
        await settle(pilot)
        assert app.focused is screen.query_one(PacketsPanel)


@ui_test
async def test_quit_key_exits():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0


def test_header_says_paused_and_ended():
    _, engine = replayed(DEMO)
    header = HeaderPanel()
    text = header.render_text(engine.snapshot(top=0)).plain
    assert "ENDED" in text and "PAUSED" not in text
    header.paused = True
    assert "PAUSED" in header.render_text(engine.snapshot(top=0)).plain


def test_bad_file_is_a_plain_error(tmp_path, capsys):
    from ui_support import options

    from tui.app import run_app

    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"not a capture at all")
    assert run_app(options("-r", str(bad))) == 1
    assert "not a pcap" in capsys.readouterr().err


@ui_test
async def test_the_flows_panel_always_has_room_or_the_layout_turns_compact():
    """At 100x32 or 120x36 the normal grid's fixed rows (use cases, rate, packets) used to
    leave the flows panel zero rows; such sizes now get the one-panel layout."""
    from tui.screens.monitor import MIN_FLOWS_ROWS

    for size, compact in (((100, 32), True), ((110, 37), True), ((120, 36), True), ((120, 37), False),
                          ((119, 38), False), ((120, 40), False)):  # fmt: skip
        app = demo_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot, 2)
            monitor = app.screen
            flows = monitor.query_one("#flows")
            assert monitor.has_class("-compact") == compact, size
            assert flows.region.height >= MIN_FLOWS_ROWS, (size, flows.region.height)
            app.exit()

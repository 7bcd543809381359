"""Who is talking, in the UI: real processes in a test namespace, named on screen.

The monitor captures inside a test namespace (its loopback, or its end of the veth chosen
in the picker) with process attribution there; servers and clients are real processes
that name themselves (tests/peers.py).  Live Pilot tests are paced by hand: Pilot's
``pause`` waits for the whole process to go idle, so each wait is a bounded poll.
Reverse DNS asks a real dnslib server inside the namespace, never anything outside.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import peers
import pytest
from ui_support import DEMO, options, replayed, screen_text, settle, ui_test

from tui.app import SockscopeApp
from tui.screens.flow import FlowScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.picker import PickerScreen
from tui.widgets.flows import FlowsPanel
from tui.widgets.processes import ProcessesPanel

pytestmark = [pytest.mark.live, pytest.mark.timeout(90)]


async def wait_for(pilot, cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"not in {timeout} s: {what}")


def end(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(5)


def owned(monitor: MonitorScreen, port: int, name: str) -> bool:
    snap = monitor.last
    return snap is not None and any(port in (f.sport, f.dport) and f.process == name for f in snap.flows)


def shown_processes(app) -> set[str]:
    panel = app.screen.query_one(ProcessesPanel)
    return {u.label for u in panel.usage_rows.values() if u.known}


@ui_test
async def test_monitor_inside_a_namespace_names_server_and_client(netns):
    """Capture on the namespace's loopback: both ends are its processes, both are named."""
    ns = netns
    port = 42100
    server = peers.start(ns.python, peers.SERVER, name="uisrv", addr="127.0.0.1", proto="TCP", port=port, hold=8.0)
    assert peers.read_line(server) == "ready"
    app = SockscopeApp(options("-i", "lo", "--netns", ns.name, "-f", f"tcp port {port}"), watch_links=False)
    clients = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 5, "the monitor")
            monitor = app.screen
            await wait_for(pilot, lambda: app.attributor is not None and app.attributor.stats.ticks > 0, 5, "attrib")
            assert app.attributor.netns == ns.name and app.attributor.error is None
            assert monitor.has_class("-owners")  # live: the processes panel is laid out
            assert app.engine.snapshot(top=0).source_name == f"lo@{ns.name}"
            clients.append(
                peers.start(ns.python, peers.CLIENT, name="uicli", addr="127.0.0.1", proto="TCP", port=port, hold=4.0)
            )
            assert peers.read_line(clients[0]).startswith("done")
            await wait_for(pilot, lambda: owned(monitor, port, "uicli"), 8, "the flow owned by uicli")
            flows = monitor.query_one(FlowsPanel)
            await wait_for(pilot, lambda: "uicli" in shown_processes(app), 3, "uicli in the processes panel")
            fid = next(f.id for f in monitor.last.flows if f.process == "uicli")
            cells = [c.plain.strip() for c in flows.row_cells(fid)]
            assert cells[1] == "uicli" and cells[2] == ""  # process shown; user folded away below 150 columns
            text = screen_text(app)
            assert "Processes" in text and "uicli" in text
            # The flow detail names the owner, with its command line from /proc.
            flows.focus()
            flows.move_cursor(row=flows.get_row_index(str(fid)))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen), 3, "the flow detail")
            info = app.screen.query_one("#flow-info").render().plain
            assert "uicli" in info and f"pid {clients[0].pid}" in info  # `ip netns exec` execs the program
            assert "command" in info and "-c" in info and "user" in info and "root" in info
            app.exit()
    finally:
        end([server, *clients])
    assert app.attributor is not None  # stop_attribution is run_app's; the app keeps it to the end
    app.stop_attribution()


@ui_test
async def test_processes_panel_at_80x24_is_one_key_away(netns):
    """Below 100x32 one panel shows at a time: 6 (in the footer) brings the processes."""
    ns = netns
    port = 42101
    server = peers.start(ns.python, peers.SERVER, name="uisrv80", addr="127.0.0.1", proto="UDP", port=port, hold=8.0)
    assert peers.read_line(server) == "ready"
    app = SockscopeApp(options("-i", "lo", "--netns", ns.name, "-f", f"udp port {port}"), watch_links=False)
    clients = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 5, "the monitor")
            monitor = app.screen
            footer = lambda: screen_text(app).splitlines()[-1]  # noqa: E731
            await wait_for(pilot, lambda: "6 Processes" in footer(), 3, "the processes key in the footer")
            clients.append(
                peers.start(ns.python, peers.CLIENT, name="uicli80", addr="127.0.0.1", proto="UDP", port=port, hold=4.0)
            )
            assert peers.read_line(clients[0]).startswith("done")
            await wait_for(pilot, lambda: owned(monitor, port, "uicli80"), 8, "the flow owned by uicli80")
            await pilot.press("6")
            await wait_for(pilot, lambda: "uicli80" in screen_text(app), 3, "uicli80 on screen")
            panel = monitor.query_one(ProcessesPanel)
            assert panel.has_class("-shown") and not monitor.query_one(FlowsPanel).has_class("-shown")
            assert panel.shown == ("who", "pid", "user", "in", "out", "rate_in", "rate_out")  # fits 78 columns
            app.exit()
    finally:
        end([server, *clients])
        app.stop_attribution()


@ui_test
async def test_picker_lists_a_namespace_and_enter_captures_inside_it(netns):
    """The namespace's interfaces come under its title; Enter on its veth end captures there,
    and the server inside (not the client on the host) owns the flow."""
    ns = netns
    port = 42102
    path = f"/run/netns/{ns.name}"
    app = SockscopeApp(options("-f", f"tcp port {port}"), watch_links=False)
    procs = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            picker = app.screen
            assert isinstance(picker, PickerScreen)
            await wait_for(pilot, lambda: picker.namespaces_loaded, 20, "the namespaces listed")
            table = picker.query_one("#links")
            keys = table.keys_in_order()
            head = keys.index(("ns", path))
            inside = keys[head + 1 : head + 3]
            assert set(inside) == {("if", path, "lo"), ("if", path, ns.peer)}  # grouped under it
            assert keys.index(("ns", path)) > keys.index(ns.host)  # after the host's links
            assert ns.name in table.row_cells(("ns", path))[5].plain
            await pilot.press(*ns.peer, "enter")  # type to filter: the title and its veth end
            await settle(pilot)
            assert table.keys_in_order() == [("ns", path), ("if", path, ns.peer)]
            assert table.selected_key() == ("if", path, ns.peer)  # the cursor skips the title
            procs.append(
                peers.start(ns.python, peers.SERVER, name="uinssrv", addr=ns.peer_ip, proto="TCP", port=port, hold=8)
            )
            assert peers.read_line(procs[0]) == "ready"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 5, "the monitor")
            monitor = app.screen
            assert app.netns == path and app.attributor is not None and app.attributor.netns == path
            assert app.engine.snapshot(top=0).source_name == f"{ns.peer}@{ns.name}"
            await wait_for(pilot, lambda: app.attributor.stats.ticks > 0, 5, "attribution started")
            procs.append(peers.start(None, peers.CLIENT, name="uihostcli", addr=ns.peer_ip, proto="TCP", port=port))
            assert peers.read_line(procs[1]).startswith("done")
            await wait_for(pilot, lambda: owned(monitor, port, "uinssrv"), 8, "the flow owned by uinssrv")
            await wait_for(pilot, lambda: "uinssrv" in shown_processes(app), 3, "uinssrv in the processes panel")
            assert "uihostcli" not in shown_processes(app)  # the host's processes are not this namespace's
            app.exit()
    finally:
        end(procs)
        app.stop_attribution()


DNS_SERVER = textwrap.dedent(
    """
    import sys, time
    from dnslib import PTR, QTYPE, RR
    from dnslib.server import BaseResolver, DNSServer

    class Slow(BaseResolver):
        def resolve(self, request, handler):
            name = str(request.q.qname)
            time.sleep(0.3)  # a slow server: the UI must not wait for it
            reply = request.reply()
            if request.q.qtype == QTYPE.PTR and name == "10.2.0.192.in-addr.arpa.":
                reply.add_answer(RR(name, QTYPE.PTR, rdata=PTR("media.example.test."), ttl=60))
            else:
                reply.header.rcode = 3
            return reply

    server = DNSServer(Slow(), address={addr!r}, port=53)
    server.start_thread()
    print("ready", flush=True)
    time.sleep(30)
    """
)


def ptr_lookup(server: str):
    """A reverse lookup that asks only ``server`` (the test namespace's DNS)."""
    from dnslib import QTYPE, DNSRecord

    def lookup(addr: str) -> str | None:
        q = DNSRecord.question(".".join(reversed(addr.split("."))) + ".in-addr.arpa", "PTR")
        try:
            reply = DNSRecord.parse(q.send(server, 53, timeout=3))
        except OSError:
            return None
        names = [str(rr.rdata).rstrip(".") for rr in reply.rr if rr.rtype == QTYPE.PTR]
        return names[0] if names else None

    return lookup


@ui_test
async def test_n_toggles_reverse_names_without_waiting(netns):
    """The demo replayed; `n` turns reverse DNS on: the RTP flow (no passive name) gains the
    name the namespace's DNS server gives 192.0.2.10, flows with passive names keep theirs."""
    ns = netns
    dns = ns.python(DNS_SERVER.format(addr=ns.peer_ip), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert peers.read_line(dns) == "ready"
        args, engine = replayed(DEMO)
        app = SockscopeApp(args, engine=engine, watch_links=False, lookup=ptr_lookup(ns.peer_ip))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            monitor = app.screen
            flows = monitor.query_one(FlowsPanel)
            rtp = next(f for f in monitor.last.flows if f.app == "RTP")
            named = next(f for f in monitor.last.flows if f.name)
            assert not monitor.names_on and flows.row_cells(rtp.id)[6].plain.strip() == ""
            assert "Reverse DNS names on/off" in dict((d, k) for k, d in monitor_keys(monitor))
            t0 = time.perf_counter()
            monitor.action_toggle_names()  # what `n` runs
            took = time.perf_counter() - t0
            assert took < 0.1, f"toggling waited {took:.3f} s"  # the server takes 0.3 s per answer
            await pilot.press("n", "n")  # off and on again through the key itself
            assert monitor.names_on and "rDNS on" in screen_text(app)
            await wait_for(
                pilot, lambda: flows.row_cells(rtp.id)[6].plain.strip() == "~media.example.test", 6, "the reverse name"
            )
            assert flows.row_cells(named.id)[6].plain.strip() == named.name  # passive names come first
            assert monitor.resolver.name("192.0.2.9") is None  # NXDOMAIN, cached as a failure
            await pilot.press("n")
            await settle(pilot)
            assert not monitor.names_on and flows.row_cells(rtp.id)[6].plain.strip() == ""
            assert "rDNS on" not in screen_text(app)
    finally:
        end([dns])


def monitor_keys(monitor: MonitorScreen) -> list[tuple[str, str]]:
    from tui.screens.help import bindings_of

    return bindings_of(monitor, monitor.app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))

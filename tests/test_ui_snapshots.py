"""Pictures of the screens (pytest-textual-snapshot), compared with the committed baselines.

Deterministic input: the shipped demo capture replayed to its end before the app starts,
so every number, time and rate comes from the capture's own clock; the picker lists a
fixed set of links. Update the baselines with `pytest tests/test_ui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from ui_support import DEMO, options, replayed

from tui.app import SockscopeApp
from tui.interfaces import LinkInfo
from tui.netns_list import Namespace, NamespaceInterface

pytestmark = pytest.mark.timeout(120)

LINKS = [
    LinkInfo(
        1, "lo", "loopback", "unknown", True, True, "00:00:00:00:00:00", 65536,
        ("127.0.0.1/8",), ("::1/128",), 0, 0, 0, 0,
    ),
    LinkInfo(
        2, "eth0", "ethernet", "up", True, True, "02:00:5e:00:53:01", 1500,
        ("192.0.2.10/24",), ("2001:db8::10/64", "fe80::5eff:fe00:5301/64"), 0, 0, 0, 0,
    ),
    LinkInfo(3, "wlan0", "wireless", "dormant", False, True, "02:00:5e:00:53:02", 1500, (), (), 0, 0, 0, 0),
    LinkInfo(4, "br0", "bridge", "down", False, False, "02:00:5e:00:53:03", 1500, ("198.51.100.1/24",), (), 0, 0, 0, 0),
    LinkInfo(5, "veth-web", "veth", "up", True, True, "02:00:5e:00:53:04", 1500, ("203.0.113.5/30",), (), 0, 0, 0, 0),
    LinkInfo(6, "tun0", "tun", "unknown", True, True, "", 1420, ("198.51.100.66/30",), (), 0, 0, 0, 0),
]  # fmt: skip
NAMESPACES = [
    Namespace(4026532201, "web", "named", "/run/netns/web", (), (
        NamespaceInterface(1, "lo", "loopback", "unknown", ("127.0.0.1/8", "::1/128")),
        NamespaceInterface(2, "eth0", "veth", "up", ("203.0.113.6/30", "2001:db8:6::2/64")),
    )),
    Namespace(4026532302, "pid 4242 (nginx) docker:shop", "process", "/proc/4242/ns/net", (4242,), (
        NamespaceInterface(1, "lo", "loopback", "unknown", ("127.0.0.1/8",)),
        NamespaceInterface(7, "eth0", "veth", "up", ("198.51.100.130/26",)),
    )),
]  # fmt: skip


async def namespaces_listed(pilot) -> None:
    """The picker lists namespaces in a worker thread: wait for it before the picture."""
    for _ in range(100):
        if getattr(pilot.app.screen, "namespaces_loaded", False):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def demo_app() -> SockscopeApp:
    args, engine = replayed(DEMO)
    return SockscopeApp(args, engine=engine, watch_links=False)


def picker_app() -> SockscopeApp:
    return SockscopeApp(options(), watch_links=False, links=lambda: list(LINKS), namespaces=lambda: list(NAMESPACES))


def test_picker_120x40(snap_compare):
    assert snap_compare(picker_app(), terminal_size=(120, 40), run_before=namespaces_listed)


def test_picker_80x24(snap_compare):
    assert snap_compare(picker_app(), terminal_size=(80, 24), run_before=namespaces_listed)


def test_monitor_120x40(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 40))


def test_monitor_80x24(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(80, 24))


def test_monitor_wide_180x50(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(180, 50))


def test_packet_detail_120x40(snap_compare):
    assert snap_compare(demo_app(), press=["5", "down", "down", "enter"], terminal_size=(120, 40))


def test_flow_detail_120x40(snap_compare):
    assert snap_compare(demo_app(), press=["enter"], terminal_size=(120, 40))


def test_help_80x24(snap_compare):
    assert snap_compare(demo_app(), press=["question_mark"], terminal_size=(80, 24))

"""Shared fixtures: sample captures, privilege checks, test namespaces, live capture."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import netns as _netns

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PCAPS = SHARED / "pcaps"


def _skip(reason: str) -> None:
    """Skip with the reason printed, so a skip is never silent."""
    print(f"SKIP: {reason}", file=sys.stderr)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pcaps_dir() -> Path:
    """../shared/pcaps, or a printed skip where it is absent (a user's fresh clone)."""
    if not (PCAPS / "ndpi").is_dir():
        _skip(f"sample captures not found at {PCAPS} (they live beside the repository, not in it)")
    return PCAPS


def all_sample_pcaps() -> list[Path]:
    """Every capture file under ../shared/pcaps (empty when absent)."""
    if not PCAPS.is_dir():
        return []
    return sorted(p for p in PCAPS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def net_raw_reason() -> str | None:
    """None when raw sockets can be opened, else why not."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        return "raw sockets need CAP_NET_RAW (run the tests as root)"
    except OSError as exc:
        return f"raw sockets unavailable: {exc}"
    s.close()
    return None


@pytest.fixture
def net_raw() -> None:
    reason = net_raw_reason()
    if reason:
        _skip(reason)


@pytest.fixture
def netns(net_raw) -> Iterator[_netns.NetNS]:
    """A fresh namespace with a veth pair to it; always removed."""
    reason = _netns.can_make_netns()
    if reason:
        _skip(reason)
    ns = _netns.create()
    try:
        yield ns
    finally:
        _netns.destroy(ns)


@pytest.fixture
def netns_factory(net_raw) -> Iterator[Callable[[], _netns.NetNS]]:
    """Make as many namespaces as a test needs; all removed at the end."""
    reason = _netns.can_make_netns()
    if reason:
        _skip(reason)
    made: list[_netns.NetNS] = []

    def make() -> _netns.NetNS:
        ns = _netns.create()
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            _netns.destroy(ns)


class LiveCapture:
    """An engine capturing on an interface in a background thread, for the length of a block."""

    def __init__(self, iface: str, bpf: str | None = None, classifier=None, **source_kw) -> None:
        from tui.engine import Engine
        from tui.sources.live import LiveSource

        self.engine = Engine(classifier=classifier, idle_timeout=None)
        self.source = LiveSource(iface, bpf=bpf, **source_kw)

    def __enter__(self) -> LiveCapture:
        self.engine.start(self.source)
        time.sleep(0.05)
        return self

    def settle(self, expected_packets: int | None = None, timeout: float = 3.0) -> None:
        """Wait until the engine has seen ``expected_packets`` (or the ring's block timeout passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expected_packets is not None and self.engine.snapshot(top=0).packets >= expected_packets:
                time.sleep(0.1)  # and a little longer, to catch any extra packet
                return
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.settle(None, timeout=0.2)
        self.engine.stop()


@pytest.fixture
def live_capture(net_raw) -> Callable[..., LiveCapture]:
    return LiveCapture


@pytest.fixture
def classifier():
    """The project's classifier with its built-in rules."""
    from tui.classify import load_classifier

    return load_classifier(None)


def pytest_report_header(config) -> list[str]:
    lines = [f"sample captures: {'found' if PCAPS.is_dir() else 'absent'} ({PCAPS})"]
    reason = net_raw_reason()
    lines.append(f"raw sockets: {'yes' if reason is None else reason}")
    lines.append(f"uid: {os.geteuid()}")
    return lines


@pytest.fixture
def thread_runner() -> Iterator[Callable[[Callable[[], None]], threading.Thread]]:
    """Start helper threads that are joined at teardown."""
    threads: list[threading.Thread] = []

    def start(fn: Callable[[], None]) -> threading.Thread:
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        threads.append(t)
        return t

    yield start
    for t in threads:
        t.join(5)


def wait_packet_socket(p, ifindex: int, timeout: float = 30.0) -> None:
    """Wait until process ``p`` holds a packet socket bound to ``ifindex`` (it is capturing).

    A fixed sleep for a child's start-up fails on a loaded machine; this waits for the fact.
    """
    bench = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from live_rates import _has_packet_socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert p.poll() is None, p.communicate()[1]
        if _has_packet_socket(p.pid, ifindex):
            return
        time.sleep(0.05)
    raise AssertionError("the capture never opened its socket")

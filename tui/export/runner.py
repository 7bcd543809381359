"""The export loop: capture in the engine's thread, exporters in this one, until told to stop.

Systemd-friendly: logs go to stderr (the journal), SIGTERM and SIGINT stop it cleanly
(the flows still open are exported as ended, files flushed), SIGHUP reopens the JSONL
file.  Exit status: 0 stopped or the file ended; 1 could not start (the source, a
collector name); 3 the capture failed part-way (what it saw was exported).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from tui.engine import Engine
from tui.export.stats import ExportStats
from tui.export.tracker import FlowRecord, FlowTracker

FULL_LOOK_EVERY = 60.0  # seconds between looks at every flow (see FlowTracker.tick)
BIND_RETRY = 5.0  # seconds between attempts to bind a taken /metrics port


def log(msg: str) -> None:
    print(f"sockscope export: {msg}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class ExportOptions:
    prometheus: tuple[str, int] | None = None
    jsonl: str | None = None
    ipfix: tuple[str, int] | None = None
    tick: float = 1.0
    active_timeout: float = 60.0
    template_interval: float = 60.0
    observation_domain: int = 0
    duration: float | None = None  # stop after this many seconds (None: until a signal or the file ends)
    linger: float = 0.0  # after a file ends, keep /metrics up this long (inf: until a signal)
    top_apps: int = 20
    top_containers: int = 20
    stats: dict[str, ExportStats] = field(default_factory=dict)


class ExportRunner:
    """Owns the exporters for one engine; ``run`` returns the exit status."""

    def __init__(self, engine: Engine, opts: ExportOptions) -> None:
        self.engine = engine
        self.opts = opts
        self.stop = threading.Event()
        self.stop_reason: str | None = None
        self.tracker = FlowTracker(engine, opts.active_timeout)
        self.stats = opts.stats
        self.metrics = None
        self.server = None
        self.jsonl = None
        self.ipfix = None
        self.flows_ended = 0
        self._next_bind = 0.0

    # ----------------------------------------------------------- start-up
    def open_exporters(self) -> str | None:
        """Create the exporters; a message when one cannot even be set up (exit 1)."""
        o = self.opts
        if o.prometheus is not None:
            from tui.export.prometheus import FlowMetrics, Limits, MetricsServer

            self.metrics = FlowMetrics(Limits(apps=o.top_apps, containers=o.top_containers))
            st = self.stats.setdefault("prometheus", ExportStats())
            host, port = o.prometheus
            self.server = MetricsServer(self.metrics, host or "0.0.0.0", port, st)
            self._bind()
        if o.jsonl is not None:
            from tui.export.jsonl import JsonlWriter

            self.jsonl = JsonlWriter(o.jsonl, self.stats.setdefault("jsonl", ExportStats()), log=log)
            err = self.jsonl.open()
            if err:
                log(f"{err}; lines are counted as not written until it works")
        if o.ipfix is not None:
            import socket

            from tui.export.ipfix import IpfixExporter

            host, port = o.ipfix
            try:
                self.ipfix = IpfixExporter(
                    host, port, self.stats.setdefault("ipfix", ExportStats()), o.observation_domain,
                    o.template_interval, log=log,
                )  # fmt: skip
            except (socket.gaierror, OSError) as exc:
                return f"IPFIX collector {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
        return None

    def _bind(self) -> None:
        srv = self.server
        if srv is None or srv.listening or time.monotonic() < self._next_bind:
            return
        if srv.try_start():
            log(f"metrics on http://{srv.host}:{srv.port}/metrics")
        else:
            if srv.stats.errors == 1 or srv.stats.errors % 60 == 0:
                log(f"{srv.error}; capture goes on, retrying every {BIND_RETRY:g} s")
            self._next_bind = time.monotonic() + BIND_RETRY

    # --------------------------------------------------------------- signals
    def install_signals(self) -> None:
        def _stop(signum: int, _frame: object) -> None:
            self.stop_reason = signal.Signals(signum).name
            self.stop.set()

        def _hup(_signum: int, _frame: object) -> None:
            if self.jsonl is not None:
                self.jsonl.request_reopen()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGHUP, _hup)

    # ------------------------------------------------------------------ loop
    def run(self, source, bpf: str | None, on_stopped=None) -> int:
        """Capture until a signal, ``duration`` or the end of the source; export the rest.

        ``on_stopped`` runs once the capture has stopped, before the last flows are
        exported (the attributor's last pass, so the newest flows have owners)."""
        engine = self.engine
        o = self.opts
        engine.start(source, bpf)
        t0 = time.monotonic()
        next_full = t0 + FULL_LOOK_EVERY
        deadline = t0 + o.duration if o.duration is not None else math.inf
        while True:
            wait = min(o.tick, max(0.0, deadline - time.monotonic()))
            self.stop.wait(wait)
            if self.stop.is_set() or not engine.running or time.monotonic() >= deadline:
                break
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + FULL_LOOK_EVERY
            self._tick(final=False, full=full)
        if self.stop_reason is None and time.monotonic() >= deadline:
            self.stop_reason = "duration"
        engine.stop()
        if on_stopped is not None:
            on_stopped()
        self._tick(final=True, full=False)
        snap = engine.snapshot(top=0)
        if snap.source_kind == "file" and self.server is not None and o.linger > 0 and not self.stop.is_set():
            how_long = "until a signal" if math.isinf(o.linger) else f"{o.linger:g} s"
            log(f"the file has ended; /metrics stays up {how_long}")
            end = time.monotonic() + o.linger
            while not self.stop.wait(min(1.0, max(0.0, end - time.monotonic()))) and time.monotonic() < end:
                self._bind()
        # As `sockscope report`: a capture that ended early (damaged file, interface removed,
        # failure after some packets) exported what it saw, and says so with 3.
        status = 0
        if snap.state == "error":
            log(snap.message or "the capture failed")
            status = 3 if snap.packets else 1
        elif snap.message and snap.message != "end of file":
            log(f"warning: {snap.message}")
            status = 3
        self.close()  # first: the IPFIX socket may still hear that its last message was refused
        log(self.summary(snap))
        return status

    def _tick(self, final: bool, full: bool) -> None:
        snap = self.engine.snapshot(top=0)
        interfaces = dict(snap.interfaces)
        res = self.tracker.tick(interfaces, final=final, full=full)
        records: list[FlowRecord] = res.records
        self.flows_ended += sum(1 for r in records if r.event == "end")
        source = {"kind": snap.source_kind, "name": snap.source_name}
        if self.jsonl is not None:
            self._guard("jsonl", self.jsonl.write, records, source)
        if self.ipfix is not None:
            self._guard("ipfix", self.ipfix.send, records)
        if self.metrics is not None:
            self._guard("prometheus", self.metrics.add, res.deltas, interfaces)
            if final:
                snap = self.engine.snapshot(top=0)
            self.metrics.set_totals(snap, self.engine.retired_lost, self.flows_ended, self.stats)
            self._bind()

    def _guard(self, name: str, fn, *args) -> None:
        """One exporter's bug must not stop the capture or the others: say it once, count it."""
        try:
            fn(*args)
        except Exception as exc:
            st = self.stats.setdefault(name, ExportStats())
            st.errors += 1
            if st.errors == 1 or st.errors % 100 == 0:
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                log(f"{name} exporter failed ({st.errors} times so far): {detail}; capture goes on")

    def summary(self, snap) -> str:
        why = self.stop_reason or ("end of file" if snap.source_kind == "file" else snap.state)
        parts = [
            f"stopped ({why}): {snap.packets} packets, {snap.bytes} bytes, {self.flows_ended} flows ended, "
            f"{snap.kernel_drops} kernel drops, {snap.malformed} malformed"
        ]
        for name, st in self.stats.items():
            unit = "lines" if name == "jsonl" else "records"
            if name == "prometheus":
                srv = self.server
                state = "was listening" if srv is not None and srv.listening else "never listened"
                parts.append(f"prometheus {state} ({st.errors} failed binds)")
            else:
                parts.append(f"{name} {st.sent} {unit} sent, {st.failed} not sent")
        if self.engine.retired_lost:
            parts.append(f"{self.engine.retired_lost} ended flows lost (queue full)")
        return "; ".join(parts)

    def close(self) -> None:
        self.tracker.close()
        if self.jsonl is not None:
            self.jsonl.close()
        if self.ipfix is not None:
            self.ipfix.close()
        if self.server is not None:
            self.server.close()

"""A Prometheus /metrics endpoint (prometheus_client) for one engine.

Counters are built from flow deltas (``tracker``), so each series only ever grows even
when a flow's class or owner is learned after its first packets: what it counted before
stays where it was counted.  Engine totals (packets, drops, flows) are read from a cheap
snapshot at each tick.  Metric names and labels are documented in the README ("Many hosts").
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from tui import __version__
from tui.decode import socket_kind
from tui.export.labels import LabelBound
from tui.export.stats import ExportStats
from tui.export.tracker import Moved
from tui.snapshot import Snapshot

FLOW_LABELS = ("interface", "direction", "socket_kind", "protocol", "app", "use_case", "container")
STATES = ("idle", "running", "ended", "stopped", "error")


@dataclass(slots=True)
class Limits:
    """How many distinct values each bounded label may take before values become ``other``."""

    apps: int = 20
    containers: int = 20
    protocols: int = 20
    interfaces: int = 32
    use_cases: int = 20


@dataclass(slots=True)
class _Totals:
    packets: int = 0
    bytes: int = 0
    malformed: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0
    flows_active: int = 0
    flows_evicted: int = 0
    flows_expired: int = 0
    state: str = "idle"
    source: str = ""
    source_kind: str = ""


@dataclass(slots=True)
class _State:
    flow_packets: dict[tuple[str, ...], int] = field(default_factory=dict)
    flow_bytes: dict[tuple[str, ...], int] = field(default_factory=dict)
    totals: _Totals = field(default_factory=_Totals)
    exporters: dict[str, ExportStats] = field(default_factory=dict)
    queue_lost: int = 0
    flows_ended: int = 0


class FlowMetrics(Collector):
    """The metric families, filled by the runner thread and read by the HTTP thread."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        lim = self.limits
        self._bounds = {
            "interface": LabelBound(lim.interfaces),
            "protocol": LabelBound(lim.protocols),
            "app": LabelBound(lim.apps),
            "use_case": LabelBound(lim.use_cases),
            "container": LabelBound(lim.containers),
        }
        self._lock = threading.Lock()
        self._s = _State()

    # ------------------------------------------------------------ runner side
    def add(self, deltas: Iterable[Moved], interfaces: dict[int, tuple[str, int]]) -> None:
        """Add one tick's flow deltas to the labelled counters (largest first: see labels)."""
        b = self._bounds
        iface, proto, app, uc, cont = (b[k].value for k in ("interface", "protocol", "app", "use_case", "container"))
        memo: dict[tuple, tuple] = {}  # raw labels -> bounded ones, once per combination a tick
        rows = []
        for d in sorted(deltas, key=lambda d: -d.bytes):
            raw = (d.ifindex, d.proto, d.app, d.use_case, d.container)
            common = memo.get(raw)
            if common is None:
                entry = interfaces.get(d.ifindex)
                common = memo[raw] = (
                    iface(entry[0] if entry else None), socket_kind(d.proto), proto(d.proto), app(d.app),
                    uc(d.use_case), cont(d.container),
                )  # fmt: skip
            rows.append((common, d))
        with self._lock:
            fp, fb = self._s.flow_packets, self._s.flow_bytes
            for (iface, kind, proto, app, uc, cont), d in rows:
                for direction, p, n in (("orig", d.packets_ab, d.bytes_ab), ("reply", d.packets_ba, d.bytes_ba)):
                    if not p:
                        continue
                    key = (iface, direction, kind, proto, app, uc, cont)
                    fp[key] = fp.get(key, 0) + p
                    fb[key] = fb.get(key, 0) + n

    def set_totals(self, snap: Snapshot, queue_lost: int, ended: int, exporters: dict[str, ExportStats]) -> None:
        t = _Totals(
            snap.packets, snap.bytes, snap.malformed, snap.kernel_packets, snap.kernel_drops, snap.active_flows,
            snap.flows_evicted, snap.flows_expired, snap.state, snap.source_name, snap.source_kind,
        )  # fmt: skip
        with self._lock:
            self._s.totals = t
            self._s.queue_lost = queue_lost
            self._s.flows_ended = ended
            self._s.exporters = {k: ExportStats(v.sent, v.failed, v.errors) for k, v in exporters.items()}

    def folded(self) -> dict[str, int]:
        """Per bounded label, how many distinct values went to ``other``."""
        return {k: v.folded for k, v in self._bounds.items()}

    # -------------------------------------------------------------- HTTP side
    def collect(self):
        with self._lock:
            s = self._s
            t = s.totals
            fp = dict(s.flow_packets)
            fb = dict(s.flow_bytes)
            exporters = dict(s.exporters)
            queue_lost = s.queue_lost
            ended = s.flows_ended
        info = InfoMetricFamily("sockscope", "The exporter's version and what it captures")
        info.add_metric([], {"version": __version__, "source": t.source, "source_kind": t.source_kind})
        yield info
        for name, doc, value in (
            ("sockscope_packets", "Packets counted by the engine", t.packets),
            ("sockscope_bytes", "Bytes (wire lengths) counted by the engine", t.bytes),
            ("sockscope_malformed", "Frames the decoder marked truncated or malformed", t.malformed),
            ("sockscope_kernel_packets", "Packets the kernel saw for the capture socket", t.kernel_packets),
            ("sockscope_kernel_drops", "Packets the kernel dropped before the capture read them", t.kernel_drops),
            ("sockscope_flows_evicted", "Flows pushed out of the full flow table", t.flows_evicted),
            ("sockscope_flows_expired", "Flows ended by their idle or closed timeout", t.flows_expired),
            ("sockscope_flows_ended", "Flows whose end the exporter has passed on", ended),
            ("sockscope_export_queue_lost", "Ended flows the exporter's queue had no room for", queue_lost),
        ):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
        g = GaugeMetricFamily("sockscope_flows_active", "Flows in the engine's table")
        g.add_metric([], t.flows_active)
        yield g
        st = GaugeMetricFamily("sockscope_capture_state", "1 for the capture's current state", labels=["state"])
        for name in STATES:
            st.add_metric([name], 1.0 if t.state == name else 0.0)
        yield st
        up = GaugeMetricFamily("sockscope_capture_running", "1 while the capture runs")
        up.add_metric([], 1.0 if t.state == "running" else 0.0)
        yield up
        for name, doc, table in (
            ("sockscope_flow_packets", "Packets of flows, by flow labels", fp),
            ("sockscope_flow_bytes", "Bytes (wire lengths) of flows, by flow labels", fb),
        ):
            c = CounterMetricFamily(name, doc, labels=list(FLOW_LABELS))
            for key, value in table.items():
                c.add_metric(list(key), value)
            yield c
        for name, doc, attr in (
            ("sockscope_export_sent", "Records (JSONL lines, IPFIX data records) sent", "sent"),
            ("sockscope_export_failed", "Records that could not be sent or written", "failed"),
            ("sockscope_export_errors", "Failed operations (sends, writes, binds)", "errors"),
        ):
            c = CounterMetricFamily(name, doc, labels=["exporter"])
            for ex, stats in exporters.items():
                c.add_metric([ex], getattr(stats, attr))
            yield c


def parse_address(text: str, default_host: str = "") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` -> (host, port); ValueError with a plain reason."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        n = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: the port {port!r} is not a number") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"{text!r}: the port must be 0-65535")
    return host or default_host, n


class MetricsServer:
    """The /metrics HTTP endpoint; binding is retried while the port is taken (capture goes on)."""

    def __init__(self, metrics: FlowMetrics, host: str, port: int, stats: ExportStats) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.stats = stats
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(metrics)
        from prometheus_client import ProcessCollector

        ProcessCollector(registry=self.registry)
        self._server = None
        self._thread = None
        self.error: str | None = None

    def try_start(self) -> bool:
        """Bind and serve; False (with ``error`` set) when the address cannot be used."""
        if self._server is not None:
            return True
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            self.stats.errors += 1
            self.error = f"cannot listen on {self.host or '*'}:{self.port}: {exc.strerror or exc}"
            return False
        self.error = None
        self.port = self._server.server_port
        return True

    @property
    def listening(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

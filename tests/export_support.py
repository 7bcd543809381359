"""Helpers for the export tests: capture files with known counts, and the real collectors
(Prometheus, pmacct's nfacctd) started on loopback by the tests themselves."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO, _skip

from tui.snapshot import TwoWay

BASE_TS = 1_700_000_000.0


@dataclass(slots=True)
class FlowTruth(TwoWay):
    """What the test put into one flow: counts each way, by construction."""

    proto: str
    src: str
    sport: int
    dst: str
    dport: int
    use_case: str
    packets_ab: int = 0
    bytes_ab: int = 0
    packets_ba: int = 0
    bytes_ba: int = 0


@dataclass(slots=True)
class Capture:
    path: Path
    flows: list[FlowTruth] = field(default_factory=list)

    @property
    def packets(self) -> int:
        return sum(f.packets for f in self.flows)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.flows)

    def by_use_case(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(use case, orig|reply) -> (packets, bytes)."""
        out: dict[tuple[str, str], list[int]] = {}
        for f in self.flows:
            for d, p, b in (("orig", f.packets_ab, f.bytes_ab), ("reply", f.packets_ba, f.bytes_ba)):
                if p:
                    acc = out.setdefault((f.use_case, d), [0, 0])
                    acc[0] += p
                    acc[1] += b
        return {k: (v[0], v[1]) for k, v in out.items()}


def build_capture(
    path: Path, dns: int = 6, http: int = 4, udp6: int = 2, long_flows: int = 0, span: float = 1.0
) -> Capture:
    """A pcap of DNS exchanges, HTTP fetches over TCP (SYN to FIN), IPv6 datagrams to an
    unnamed port and optionally ``long_flows`` UDP flows with a packet every 0.1 s over
    ``span`` seconds; counts are kept as the packets are made (wire length = len(bytes))."""
    from scapy.all import DNS, DNSQR, DNSRR, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap

    frames: list = []
    cap = Capture(path)

    def add(flow: FlowTruth, pkt, t: float, forward: bool) -> None:
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt
        pkt.time = BASE_TS + t
        n = len(bytes(pkt))
        if forward:
            flow.packets_ab += 1
            flow.bytes_ab += n
        else:
            flow.packets_ba += 1
            flow.bytes_ba += n
        frames.append(pkt)

    t = 0.0
    for i in range(dns):
        f = FlowTruth("UDP", "192.0.2.10", 41000 + i, "198.51.100.53", 53, "name_resolution")
        cap.flows.append(f)
        name = f"host{i}.example.com"
        add(f, IP(src=f.src, dst=f.dst) / UDP(sport=f.sport, dport=53) / DNS(rd=1, qd=DNSQR(qname=name)), t, True)
        ans = DNS(qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=f"203.0.113.{i + 1}"))
        add(f, IP(src=f.dst, dst=f.src) / UDP(sport=53, dport=f.sport) / ans, t + 0.002, False)
        t += 0.01
    for i in range(http):
        f = FlowTruth("TCP", "192.0.2.10", 52000 + i, f"203.0.113.{i + 1}", 80, "web")
        cap.flows.append(f)
        c, s = IP(src=f.src, dst=f.dst), IP(src=f.dst, dst=f.src)
        cp, sp = dict(sport=f.sport, dport=80), dict(sport=80, dport=f.sport)
        add(f, c / TCP(flags="S", seq=100, **cp), t, True)
        add(f, s / TCP(flags="SA", seq=500, ack=101, **sp), t + 0.001, False)
        req = f"GET /{i} HTTP/1.1\r\nHost: host{i}.example.com\r\n\r\n".encode()
        add(f, c / TCP(flags="PA", seq=101, ack=501, **cp) / Raw(req), t + 0.002, True)
        body = b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + bytes(300 + 100 * i)
        add(f, s / TCP(flags="PA", seq=501, ack=101 + len(req), **sp) / Raw(body), t + 0.003, False)
        add(f, c / TCP(flags="FA", seq=101 + len(req), ack=501 + len(body), **cp), t + 0.004, True)
        add(f, s / TCP(flags="FA", seq=501 + len(body), ack=102 + len(req), **sp), t + 0.005, False)
        t += 0.01
    for i in range(udp6):
        f = FlowTruth("UDP", "2001:db8::10", 47000 + i, "2001:db8::20", 47999, "unknown")
        cap.flows.append(f)
        for k in range(3):
            add(f, IPv6(src=f.src, dst=f.dst) / UDP(sport=f.sport, dport=f.dport) / Raw(bytes(20 + k)), t, True)
            t += 0.001
    start = t
    for i in range(long_flows):
        cap.flows.append(FlowTruth("UDP", "192.0.2.10", 43000 + i, "198.51.100.99", 43999, "unknown"))
    for step in range(int(span / 0.1)):
        for i in range(long_flows):
            f = cap.flows[-long_flows + i]
            pkt = IP(src=f.src, dst=f.dst) / UDP(sport=f.sport, dport=f.dport) / Raw(bytes(10 + i))
            add(f, pkt, start + step * 0.1 + i * 0.0001, True)
    frames.sort(key=lambda p: p.time)
    wrpcap(str(path), frames)
    return cap


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sockscope_export(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "export", *args],
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        **kw,
    )


def wait_for(pred, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def stop(p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, str, str]:
    """Send ``sig`` and collect the exit status and output."""
    if p.poll() is None:
        p.send_signal(sig)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out or "", err


# ---------------------------------------------------------------- Prometheus
class Prometheus:
    """A real Prometheus server on loopback scraping ``targets`` every second."""

    def __init__(self, targets: list[str], names: list[str] | None = None) -> None:
        """``names``: an ``instance`` label for each target (as a fleet would name its hosts)."""
        binary = shutil.which("prometheus")
        if binary is None:
            _skip("the prometheus binary is missing (apt-get install prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="sockscope-prom-"))
        self.port = free_port()
        cfg = self.dir / "prometheus.yml"
        if names is None:
            static = f"      - targets: {json.dumps(targets)}\n"
        else:
            static = "".join(
                f"      - targets: [{json.dumps(t)}]\n        labels: {{instance: {json.dumps(n)}}}\n"
                for t, n in zip(targets, names, strict=True)
            )
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: sockscope\n    scrape_interval: 1s\n"
            f"    static_configs:\n{static}"
        )
        self.log = open(self.dir / "prometheus.log", "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self._ready, 60, "prometheus to be ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {(self.dir / 'prometheus.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        url = f"http://127.0.0.1:{self.port}/api/v1/query_range?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=20) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        res = self.query(promql)
        return float(res[0]["value"][1]) if res else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def prometheus(targets: list[str], names: list[str] | None = None) -> Iterator[Prometheus]:
    p = Prometheus(targets, names)
    try:
        yield p
    finally:
        p.close()


# ------------------------------------------------------------------ nfacctd
NFACCTD_PRIMITIVES = """\
name=use_case field_type=32473:1 len=vlen semantics=str
name=app field_type=32473:2 len=vlen semantics=str
name=reason field_type=32473:3 len=vlen semantics=str
name=process field_type=32473:4 len=vlen semantics=str
name=container field_type=32473:5 len=vlen semantics=str
"""


class Nfacctd:
    """pmacct's IPFIX collector on loopback, its print plugin writing JSON lines to a file."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("nfacctd")
        if binary is None:
            _skip("pmacct's nfacctd is missing (apt-get install pmacct)")
        self.dir = Path(tempfile.mkdtemp(prefix="sockscope-nfacctd-"))
        self.port = port or free_port(socket.SOCK_DGRAM)
        self.out = self.dir / "flows.json"
        (self.dir / "primitives.lst").write_text(NFACCTD_PRIMITIVES)
        conf = self.dir / "nfacctd.conf"
        conf.write_text(
            "daemonize: false\n"
            "nfacctd_ip: 127.0.0.1\n"
            f"nfacctd_port: {self.port}\n"
            f"aggregate_primitives: {self.dir / 'primitives.lst'}\n"
            "plugins: print[out]\n"
            "aggregate[out]: src_host, dst_host, src_port, dst_port, proto, use_case, app, reason, process, container\n"
            "print_output[out]: json\n"
            f"print_output_file[out]: {self.out}\n"
            "print_output_file_append[out]: true\n"
            "print_refresh_time[out]: 1\n"
        )
        self.log = open(self.dir / "nfacctd.log", "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen([binary, "-f", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: "waiting for NetFlow/IPFIX data" in (self.dir / "nfacctd.log").read_text(), 20, "nfacctd")

    def records(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

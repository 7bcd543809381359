"""`sockscope export --prometheus` scraped by a real Prometheus server (started here, on
loopback, scrape interval 1 s): the series it stores equal the traffic the test sent."""

from __future__ import annotations

import signal
import socket
import time

from conftest import net_raw_reason
from export_support import build_capture, free_port, prometheus, sockscope_export, stop, wait_for


def _by(prom, promql: str, *labels: str) -> dict[tuple[str, ...], int]:
    return {tuple(r["metric"].get(k, "") for k in labels): int(float(r["value"][1])) for r in prom.query(promql)}


def test_prometheus_series_equal_the_replayed_capture(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    port = free_port()
    with prometheus([f"127.0.0.1:{port}"]) as prom:
        exp = sockscope_export("-r", str(cap.path), "--prometheus", f"127.0.0.1:{port}", "--linger", "inf")
        try:
            # The file is done and its last flows exported once the ended-flows counter is complete.
            wait_for(lambda: prom.value("sockscope_flows_ended_total") == len(cap.flows), 60, "every flow to end")
            # The last scrape must also carry the final flow counters (same scrape as the line above).
            assert prom.value("sockscope_packets_total") == cap.packets
            assert prom.value("sockscope_bytes_total") == cap.bytes
            assert prom.value("sum(sockscope_flow_packets_total)") == cap.packets
            assert prom.value("sum(sockscope_flow_bytes_total)") == cap.bytes
            got = _by(prom, "sum by (use_case, direction) (sockscope_flow_bytes_total)", "use_case", "direction")
            want = {k: v[1] for k, v in cap.by_use_case().items()}
            assert got == want
            got_p = _by(prom, "sum by (use_case, direction) (sockscope_flow_packets_total)", "use_case", "direction")
            assert got_p == {k: v[0] for k, v in cap.by_use_case().items()}
            kinds = _by(prom, "sum by (socket_kind) (sockscope_flow_packets_total)", "socket_kind")
            assert kinds == {("stream",): sum(f.packets for f in cap.flows if f.proto == "TCP"),
                             ("datagram",): sum(f.packets for f in cap.flows if f.proto == "UDP")}  # fmt: skip
            apps = _by(prom, "sum by (app) (sockscope_flow_packets_total)", "app")
            assert apps[("DNS",)] == sum(f.packets for f in cap.flows if f.dport == 53)
            assert apps[("HTTP",)] == sum(f.packets for f in cap.flows if f.dport == 80)
            assert prom.value('sockscope_capture_state{state="ended"}') == 1
            assert prom.value("sockscope_kernel_drops_total") == 0
            assert prom.value("sockscope_malformed_total") == 0
            info = prom.query("sockscope_info")
            assert info[0]["metric"]["source_kind"] == "file"
        finally:
            rc, _, err = stop(exp)
        assert rc == 0, err
        assert "stopped (SIGTERM)" in err and f"{cap.packets} packets" in err


def test_labels_bounded_top_apps_rest_other(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    port = free_port()
    exp = sockscope_export("-r", str(cap.path), "--prometheus", f"127.0.0.1:{port}", "--linger", "inf",
                           "--top-apps", "1")  # fmt: skip
    try:
        import urllib.request

        def scrape() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return None
            return text if f"sockscope_flows_ended_total {len(cap.flows)}.0" in text else None

        text = wait_for(scrape, 60, "the file to be exported")
    finally:
        rc, _, err = stop(exp)
    assert rc == 0, err
    apps = {line.split('app="')[1].split('"')[0] for line in text.splitlines()
            if line.startswith("sockscope_flow_bytes_total{")}  # fmt: skip
    # One app keeps its name (the largest of the first tick: HTTP), DNS folds into "other";
    # flows with no app are "none", which takes no slot.
    assert apps == {"HTTP", "other", "none"}
    total = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("sockscope_flow_bytes_total{"))  # fmt: skip
    assert total == cap.bytes


def test_live_loopback_traffic_counted_by_prometheus(tmp_path):
    """Real datagrams on loopback: the exporter captures them live, Prometheus scrapes it,
    the stored series equal what was sent (each loopback packet is counted once)."""
    reason = net_raw_reason()
    if reason:
        from conftest import _skip

        _skip(reason)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    dport = sink.getsockname()[1]
    mport = free_port()
    n, size = 200, 100
    frame = 14 + 20 + 8 + size  # what a loopback capture sees of each datagram
    with prometheus([f"127.0.0.1:{mport}"]) as prom:
        exp = sockscope_export("-i", "lo", "-f", f"udp and dst port {dport}", "--prometheus",
                               f"127.0.0.1:{mport}", "--no-attribution")  # fmt: skip
        try:
            wait_for(lambda: prom.value("sockscope_capture_running") == 1, 30, "the exporter to be scraped")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                tx.bind(("127.0.0.1", 0))
                for _ in range(n):
                    tx.sendto(bytes(size), ("127.0.0.1", dport))
                    time.sleep(0.001)
            wait_for(lambda: prom.value("sum(sockscope_flow_packets_total)") == n, 30, "the datagrams in Prometheus")
            assert prom.value("sum(sockscope_flow_bytes_total)") == n * frame
            assert prom.value("sockscope_packets_total") == n
            assert prom.value('sum(sockscope_flow_bytes_total{socket_kind="datagram",interface="lo"})') == n * frame
        finally:
            rc, _, err = stop(exp, signal.SIGINT)
            sink.close()
    assert rc == 0, err
    assert "stopped (SIGINT)" in err


def test_port_in_use_capture_goes_on(tmp_path):
    bound = "127.0.0.1"
    cap = build_capture(tmp_path / "known.pcap")
    taken = socket.socket()
    taken.bind((bound, 0))
    taken.listen()
    port = taken.getsockname()[1]
    out = tmp_path / "flows.jsonl"
    try:
        exp = sockscope_export("-r", str(cap.path), "--prometheus", f"{bound}:{port}", "--jsonl", str(out))
        _, err = exp.communicate(timeout=60)  # the file ends, and so does the exporter
        rc = exp.returncode
    finally:
        taken.close()
    assert rc == 0, err
    assert f"cannot listen on {bound}:{port}: Address already in use; capture goes on" in err
    assert "prometheus never listened (1 failed binds)" in err
    lines = out.read_text().splitlines()
    assert len(lines) == len(cap.flows)

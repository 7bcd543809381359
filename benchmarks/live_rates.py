"""Live rate and loss: sockscope, tcpdump and scapy capture the same stepped load across a veth.

For each step (offered packets per second, or ``max``) and each tool: a test namespace's
end of a veth pair sends small UDP and TCP frames (benchmarks/trafficgen.py, bounded in
count and time); the tool captures on the host end.  Printed per step and tool: what the
generator sent, what the interface received (the offered load, from its own counter),
what the tool saw, the kernel's drops for the tool's socket (PACKET_STATISTICS), and
the CPU seconds the capture process used while the load ran.

* sockscope: the engine exactly as ``sockscope report -i`` builds it (classifier with the
  built-in rules, TPACKET_V3 ring, capture thread, process attribution), in a child process.
* sockscope xN: ``sockscope report -i IFACE --workers N`` (N engines in N processes, one
  PACKET_FANOUT group; CPU seconds summed over the processes).
* tcpdump: ``tcpdump -i IFACE -nn -w /dev/null`` (its defaults: 2 MB ring).
* scapy: ``AsyncSniffer(store=False, prn=count)`` (``sniff``'s loop) on scapy's own listening socket.

Root only (raw sockets, namespaces).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

DRAIN_S = 1.5  # after the load: tcpdump hands over a ring block after its 1 s timeout
WORKERS_MARGIN_S = 4.0  # `report --workers` runs for a fixed time: start-up, then the load and the drain

SOCKSCOPE_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from tui.capture_setup import build_engine, open_source
from tui.cli import build_parser
from tui.attribution import Attributor
args = build_parser().parse_args(["report", "-i", sys.argv[1], "--duration", "1"])
engine = build_engine(args, live=True)
engine.start(open_source(args, None))
attributor = Attributor(engine, None)
attributor.start()
print("ready", flush=True)
sys.stdin.readline()
engine.stop()
attributor.stop()
s = engine.snapshot(top=0)
print(json.dumps({"seen": s.packets, "kernel_packets": s.kernel_packets, "drops": s.kernel_drops,
                  "state": s.state, "message": s.message}), flush=True)
"""

SCAPY_CHILD = r"""
import json, struct, sys
from scapy.config import conf
from scapy.sendrecv import AsyncSniffer
sock = conf.L2listen(iface=sys.argv[1])
n = [0]
def count(_p):
    n[0] += 1
sniffer = AsyncSniffer(opened_socket=sock, store=False, prn=count)
sniffer.start()
print("ready", flush=True)
sys.stdin.readline()
sniffer.stop()
try:
    packets, drops = struct.unpack("=II", sock.ins.getsockopt(263, 6, 12)[:8])
except OSError:
    packets = drops = -1
print(json.dumps({"seen": n[0], "kernel_packets": packets, "drops": drops}), flush=True)
"""


@dataclass(slots=True)
class StepResult:
    tool: str
    nominal: str
    sent: int
    offered: int  # received by the capturing interface (its rx counter)
    elapsed: float
    seen: int
    drops: int
    cpu_s: float
    note: str = ""

    @property
    def offered_pps(self) -> float:
        return self.offered / self.elapsed if self.elapsed else 0.0


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and of its children (report workers), so far."""
    total = _cpu(pid)
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                total += sum(_tree_cpu(int(c)) for c in fh.read().split())
    except OSError:
        pass
    return total


def _rx(iface: str) -> int:
    with open(f"/sys/class/net/{iface}/statistics/rx_packets") as fh:
        return int(fh.read())


def _has_packet_socket(pid: int, ifindex: int) -> bool:
    """Whether ``pid`` holds a packet socket bound to ``ifindex`` (so it is capturing)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        with open("/proc/net/packet") as fh:
            rows = [line.split() for line in fh.readlines()[1:]]
    except OSError:
        return False
    return any(r[8] in inodes and int(r[4]) == ifindex for r in rows if len(r) > 8)


def _wait_ready(p: subprocess.Popen, ifindex: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"capture process ended early (exit {p.returncode})")
        if _has_packet_socket(p.pid, ifindex):
            time.sleep(0.3)  # the ring and the capture thread are up a moment after the socket
            return
        time.sleep(0.05)
    raise RuntimeError("capture process did not open its socket in time")


def _offer(ns, gen: str, rate: int, seconds: float) -> tuple[int, int, float]:
    """Run the generator once: (sent, received by the host end, elapsed seconds)."""
    rx0 = _rx(ns.host)
    limit = int(rate * seconds) if rate else 50_000_000
    out = ns.exec(gen, ns.peer, str(rate), str(seconds), str(limit)).stdout.split()
    time.sleep(0.05)
    return int(out[0]), _rx(ns.host) - rx0, float(out[1])


def run_tool(tool: str, ns, gen: str, rate: int, seconds: float) -> StepResult:
    ifindex = int(Path(f"/sys/class/net/{ns.host}/ifindex").read_text())
    nominal = f"{rate:,}" if rate else "max"
    workers = int(tool[len("sockscope x") :]) if tool.startswith("sockscope x") else 0
    if tool == "sockscope":
        cmd = [sys.executable, "-c", SOCKSCOPE_CHILD, ns.host, str(REPO)]
    elif workers:
        duration = seconds + DRAIN_S + WORKERS_MARGIN_S
        cmd = [sys.executable, "-m", "tui", "report", "-i", ns.host, "--duration", str(duration), "--format", "json",
               "--top", "0", "--workers", str(workers)]  # fmt: skip
    elif tool == "tcpdump":
        cmd = ["tcpdump", "-i", ns.host, "-nn", "-w", "/dev/null"]
    else:
        cmd = [sys.executable, "-c", SCAPY_CHILD, ns.host, str(seconds + 60)]
    stdin = subprocess.PIPE if tool in ("sockscope", "scapy") else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        _wait_ready(p, ifindex)
        if workers:
            time.sleep(0.5)  # the workers are forked once every socket has joined the group
        cpu0 = _tree_cpu(p.pid)
        sent, offered, elapsed = _offer(ns, gen, rate, seconds)
        time.sleep(DRAIN_S)
        cpu = _tree_cpu(p.pid) - cpu0
        if workers:
            out, err = p.communicate(timeout=WORKERS_MARGIN_S + 60)
            if p.returncode not in (0, 3):
                raise RuntimeError(f"report failed: {err.strip()[-200:]}")
            res = json.loads(out)
            seen, drops, note = res["packets"], res["kernel_drops"], ""
        elif tool == "tcpdump":
            p.send_signal(signal.SIGINT)
            _out, err = p.communicate(timeout=30)
            got = {
                k: int(v) for v, k in re.findall(r"(\d+) packets? (captured|received by filter|dropped by kernel)", err)
            }
            seen, drops = got.get("captured", 0), got.get("dropped by kernel", 0)
            note = ""
        else:
            out, err = p.communicate("stop\n", timeout=60)
            res = json.loads(out.strip().splitlines()[-1])
            seen, drops = res["seen"], res["drops"]
            note = res.get("message") or ""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return StepResult(tool, nominal, sent, offered, elapsed, seen, drops, cpu, note)


def run_steps(rates: list[int], seconds: float, tools: list[str]) -> list[StepResult]:
    import netns as _netns
    import trafficgen

    reason = _netns.can_make_netns()
    if reason:
        raise RuntimeError(reason)
    gen = trafficgen.build()
    ns = _netns.create("blr")
    results = []
    try:
        for rate in rates:
            for tool in tools:
                try:
                    results.append(run_tool(tool, ns, gen, rate, seconds))
                except Exception as exc:  # one tool failing must not hide the others' figures
                    results.append(StepResult(tool, f"{rate:,}" if rate else "max", 0, 0, 0, 0, 0, 0, str(exc)))
                r = results[-1]
                print(
                    f"  {r.tool:<10} {r.nominal:>8}: offered {r.offered:,} at {r.offered_pps:,.0f}/s, "
                    f"seen {r.seen:,}, kernel drops {r.drops:,}, CPU {r.cpu_s:.2f} s {r.note}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        _netns.destroy(ns)
    return results


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="25000,50000,100000,200000,0", help="packets/s per step, 0 = as fast as it can")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--tools", default="sockscope,tcpdump,scapy", help="also: 'sockscope x2' (report --workers 2)")
    a = ap.parse_args()
    run_steps([int(x) for x in a.rates.split(",")], a.seconds, a.tools.split(","))

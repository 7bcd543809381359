"""Engine throughput beside scapy and tcpdump: prints the figures quoted in the README.

1. Offline, one core: decode + accounting (Engine.process, without and with the classifier) on every frame of
   ../shared/pcaps/ndpi loaded into memory, and on a synthetic mix; scapy's dissection rate
   (``Ether(bytes)`` and friends) on the same frames.
2. Live on loopback: a separate process offers UDP datagrams at a fixed rate for a few
   seconds (bounded); sockscope's engine, ``tcpdump -w /dev/null`` and scapy's
   ``sniff(store=False)`` each capture the same load in turn, with their kernel drops.

Run as root (live part): ``.venv/bin/python benchmarks/bench_engine.py [--rate 50000] [--seconds 3]``.
``--offline`` skips the live part.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui.engine import Engine  # noqa: E402
from tui.sources.live import LiveSource  # noqa: E402
from tui.sources.pcapfile import PcapSource  # noqa: E402

PCAPS = REPO.parent / "shared" / "pcaps" / "ndpi"


# ------------------------------------------------------------------ offline
def load_pcaps() -> list[tuple]:
    frames: list[tuple] = []
    for path in sorted(glob.glob(str(PCAPS / "*.pcap*")) + glob.glob(str(PCAPS / "*.cap"))):
        src = PcapSource(path)
        frames.extend((ts, i, d, w, bytes(b), lt) for ts, i, d, w, b, lt in src.frames())
        src.close()
    return frames


def synthetic_mix(n: int = 100_000, flows: int = 5_000) -> list[tuple]:
    """A mix like a busy host: TCP and UDP over IPv4/IPv6, ICMP, ARP, VLAN tags."""
    from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, IPv6, raw
    from scapy.all import Ether as Ether_

    rng = random.Random(7)
    templates = []

    def Ether(dst: str = "02:00:00:00:00:02") -> Ether_:
        return Ether_(src="02:00:00:00:00:01", dst=dst)

    for i in range(flows):
        a, b = f"192.0.2.{i % 250 + 1}", f"198.51.100.{i // 250 % 250 + 1}"
        kind = rng.random()
        if kind < 0.55:
            p = Ether() / IP(src=a, dst=b) / TCP(sport=1024 + i, dport=443, flags="PA") / (b"t" * rng.randint(0, 1400))
        elif kind < 0.8:
            p = Ether() / IP(src=a, dst=b) / UDP(sport=1024 + i, dport=53) / (b"u" * rng.randint(20, 500))
        elif kind < 0.92:
            p = (
                Ether()
                / IPv6(src=f"2001:db8::{i:x}", dst="2001:db8:1::1")
                / TCP(sport=1024 + i, dport=80)
                / (b"x" * 100)
            )
        elif kind < 0.96:
            p = Ether() / Dot1Q(vlan=10) / IP(src=a, dst=b) / UDP(sport=1024 + i, dport=123) / (b"n" * 48)
        elif kind < 0.99:
            p = Ether() / IP(src=a, dst=b) / ICMP() / (b"p" * 56)
        else:
            p = Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=a, pdst=b)
        templates.append(raw(p))
    t0 = 1_700_000_000 * 10**9
    out = []
    for k in range(n):
        data = templates[rng.randrange(flows)]
        out.append((t0 + k * 10_000, 1, k & 1, len(data), data, 1))
    return out


def engine_rate(frames: list[tuple], repeat: int = 3, batch: int = 256, classify: bool = False) -> float:
    """Packets per second through Engine.process (best of ``repeat``, a fresh engine each time).

    ``classify`` adds the classifier with the built-in rules, as `sockscope report` runs it.
    """
    from tui.classify import load_classifier

    best = 0.0
    for _ in range(repeat):
        classifier = load_classifier(None, use_default_user=False) if classify else None
        engine = Engine(classifier=classifier, idle_timeout=None)
        t = time.perf_counter()
        for i in range(0, len(frames), batch):
            engine.process(frames[i : i + batch])
        dt = time.perf_counter() - t
        assert engine.snapshot(top=0).packets == len(frames)
        best = max(best, len(frames) / dt)
    return best


def scapy_rate(frames: list[tuple], limit: int = 4000) -> float:
    """scapy's dissection of the same frames (a spread-out sample: it is slow)."""
    from scapy.all import Ether, IPv6, Loopback
    from scapy.config import conf
    from scapy.layers.inet import IP
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2

    classes = {1: Ether, 113: CookedLinux, 276: CookedLinuxV2, 0: Loopback, 101: IP, 228: IP, 229: IPv6}
    step = max(1, len(frames) // limit)
    sample = frames[::step][:limit]
    t = time.perf_counter()
    for f in sample:
        cls = classes.get(f[5]) or conf.l2types.get(f[5]) or Ether
        cls(f[4])
    return len(sample) / (time.perf_counter() - t)


# --------------------------------------------------------------------- live
SENDER = r"""
import socket, sys, time
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"b" * 64
total = int(rate * seconds)
step = max(1, rate // 1000)  # bursts every millisecond
dst = ("127.0.0.1", port)
sent = 0
t0 = time.perf_counter()
while sent < total:
    for _ in range(min(step, total - sent)):
        s.sendto(payload, dst)
    sent += min(step, total - sent)
    delay = t0 + sent / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
print(sent, time.perf_counter() - t0)
"""


class Load:
    """A bounded UDP flood to a sink socket on loopback, from another process."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate, self.seconds = rate, seconds
        self.port = random.randint(20_000, 60_000)

    def run(self) -> tuple[int, float]:
        import socket

        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no ICMP unreachables; data just queues
        sink.bind(("127.0.0.1", self.port))
        try:
            out = subprocess.run(
                [sys.executable, "-c", SENDER, str(self.port), str(self.rate), str(self.seconds)],
                capture_output=True,
                text=True,
                timeout=self.seconds * 5 + 30,
                check=True,
            ).stdout.split()
        finally:
            sink.close()
        return int(out[0]), float(out[1])

    @property
    def bpf(self) -> str:
        return f"udp dst port {self.port}"


def live_engine(rate: int, seconds: float) -> dict:
    load = Load(rate, seconds)
    engine = Engine(idle_timeout=None)
    engine.start(LiveSource("lo", bpf=load.bpf), load.bpf)
    time.sleep(0.2)
    cpu0 = time.process_time()
    sent, took = load.run()
    deadline = time.monotonic() + 5
    while engine.snapshot(top=0).packets < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = time.process_time() - cpu0
    engine.stop()
    snap = engine.snapshot(top=0)
    return {
        "sent": sent,
        "offered_pps": sent / took,
        "captured": snap.packets,
        "kernel_packets": snap.kernel_packets,
        "kernel_drops": snap.kernel_drops,
        "cpu_s": cpu,
    }


def live_tcpdump(rate: int, seconds: float) -> dict | None:
    if subprocess.run(["which", "tcpdump"], capture_output=True).returncode:
        return None
    load = Load(rate, seconds)
    p = subprocess.Popen(["tcpdump", "-i", "lo", "-nn", "-w", "/dev/null", load.bpf], stderr=subprocess.PIPE, text=True)
    line = ""
    deadline = time.monotonic() + 10
    while "listening on" not in line and time.monotonic() < deadline:
        line = p.stderr.readline()
    sent, took = load.run()
    time.sleep(1.5)  # tcpdump hands over a ring block after its 1 s timeout
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=10)[1]
    got = {k: int(v) for v, k in re.findall(r"(\d+) packets? (captured|received by filter|dropped by kernel)", err)}
    return {
        "sent": sent,
        "offered_pps": sent / took,
        "captured": got.get("captured", 0),
        "received": got.get("received by filter", 0),
        "kernel_drops": got.get("dropped by kernel", 0),
    }


SNIFFER = r"""
import sys, time
from scapy.all import sniff
port, seconds = int(sys.argv[1]), float(sys.argv[2])
n = {"in": 0, "all": 0}
def count(p):
    n["all"] += 1
    if getattr(p, "direction", None) != 4:  # lo shows each packet going out and coming in
        n["in"] += 1
sys.stdout.write("ready\n"); sys.stdout.flush()
sniff(iface="lo", filter=f"udp dst port {port}", store=False, prn=count, timeout=seconds)
print(n["in"], n["all"])
"""


def live_scapy(rate: int, seconds: float) -> dict:
    load = Load(rate, seconds)
    p = subprocess.Popen(
        [sys.executable, "-c", SNIFFER, str(load.port), str(seconds + 4)], stdout=subprocess.PIPE, text=True
    )
    p.stdout.readline()
    time.sleep(1.0)  # sniff() opens its socket after the import
    sent, took = load.run()
    out = p.communicate(timeout=seconds + 30)[0].split()
    got = int(out[0])
    return {"sent": sent, "offered_pps": sent / took, "captured": got, "seen": int(out[1]), "lost": sent - got}


# --------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=50_000, help="offered packets per second on loopback")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long each live run offers load")
    ap.add_argument("--offline", action="store_true", help="skip the live measurements")
    args = ap.parse_args()
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})  # offline: one core

    print("== offline: decode + accounting (without / with the classifier), one core")
    workloads = []
    if PCAPS.is_dir():
        workloads.append(("ndpi pcaps in memory ({} frames)", load_pcaps()))
    else:
        print(f"(sample captures not found at {PCAPS}: pcap figures skipped)")
    workloads.append(("synthetic mix ({} frames, 5,000 flows)", synthetic_mix()))
    for label, frames in workloads:
        bare = engine_rate(frames)
        classified = engine_rate(frames, classify=True)
        scp = scapy_rate(frames)
        print(
            f"{label.format(f'{len(frames):,}')}: engine {bare:,.0f} pps | with classifier {classified:,.0f} pps"
            f" (classification costs {100 * (1 - classified / bare):.0f}%) | scapy dissect {scp:,.0f} pps"
            f" | {classified / scp:.1f}x scapy"
        )

    os.sched_setaffinity(0, cores)  # live: the load generator needs a core of its own
    if args.offline:
        return
    if os.geteuid() != 0:
        print("live figures need root (raw sockets): skipped")
        return
    print(f"\n== live on loopback: {args.rate:,} pps offered for {args.seconds:g} s (64-byte UDP)")
    e = live_engine(args.rate, args.seconds)
    print(
        f"sockscope engine: sent {e['sent']:,} at {e['offered_pps']:,.0f} pps, captured {e['captured']:,}, "
        f"kernel packets {e['kernel_packets']:,}, kernel drops {e['kernel_drops']:,}, "
        f"capture CPU {e['cpu_s'] / (e['sent'] / e['offered_pps']):.0%} of one core"
    )
    t = live_tcpdump(args.rate, args.seconds)
    if t is None:
        print("tcpdump: not installed")
    else:
        print(
            f"tcpdump -w /dev/null: sent {t['sent']:,} at {t['offered_pps']:,.0f} pps, "
            f"captured {t['captured']:,}, received by filter {t['received']:,}, kernel drops {t['kernel_drops']:,}"
        )
    s = live_scapy(args.rate, args.seconds)
    print(
        f"scapy sniff(store=False): sent {s['sent']:,} at {s['offered_pps']:,.0f} pps, "
        f"captured {s['captured']:,} incoming ({s['seen']:,} frames in all), "
        f"lost {s['lost']:,} ({s['lost'] / max(1, s['sent']):.0%})"
    )


if __name__ == "__main__":
    main()

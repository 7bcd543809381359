"""Soak: a long capture of mixed traffic across a veth with the link flapping; prints RSS over time.

    sudo .venv/bin/python benchmarks/soak.py                      # 30 minutes, 20k pps, flap every 60 s
    sudo .venv/bin/python benchmarks/soak.py --minutes 2 --flap-every 30 --json   # the CI version

A generator process inside a test namespace sends a fixed pool of ordinary frames (web,
DNS answers, QUIC-like UDP, ICMP, bulk TCP over --flows flows) out of its veth end at
--pps, bounded by count and time; the capture (LiveSource + Engine with the classifier,
as the monitor runs them) sits on the host end.  Every --flap-every seconds the host end
goes down and up.  Every --every seconds one line: elapsed, RSS, packets, kernel drops,
flows, ring.  At the end: whether the capture ever died, kernel drops, frames lost in the
flaps (the veth's own tx_dropped: sent while the link was down, never capturable), and
memory growth after warm-up (the first quarter of the run, at least 30 s).  Exit status 1
when the capture died or memory grew more than --flat percent after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import netns as nsmod  # noqa: E402

from tui.classify import load_classifier  # noqa: E402
from tui.engine import Engine  # noqa: E402
from tui.sources.live import LiveSource  # noqa: E402

GENERATOR = """
import itertools, json, random, sys, time
sys.path.insert(0, {repo!r})
from benchmarks.hostile_traffic import RawSender, mixed
peer, client, server = {peer!r}, bytes({client!r}), bytes({server!r})
pool = mixed({flows}, client, server, random.Random(1))
def tx_dropped():
    with open(f"/sys/class/net/{{peer}}/statistics/tx_dropped") as fh:
        return int(fh.read())
dropped0 = tx_dropped()
s = RawSender(peer)
frames = itertools.islice(itertools.cycle(pool), {count})
s.send(frames, pps={pps}, deadline=time.monotonic() + {seconds})
print(json.dumps({{"sent": s.sent, "failed": s.failed, "tx_dropped": tx_dropped() - dropped0}}), flush=True)
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def flap(iface: str) -> None:
    subprocess.run(["ip", "link", "set", iface, "down"], check=True)
    time.sleep(0.2)
    subprocess.run(["ip", "link", "set", iface, "up"], check=True)


def soak(minutes: float, pps: int, flows: int, flap_every: float, every: float, quiet: bool) -> dict:
    seconds = minutes * 60
    ns = nsmod.create("soak")
    gen = None
    engine = Engine(classifier=load_classifier(None, use_default_user=False))
    try:
        engine.start(LiveSource(ns.host))
        code = GENERATOR.format(
            repo=str(REPO),
            peer=ns.peer,
            client=list(map(int, ns.peer_ip.split("."))),
            server=list(map(int, ns.host_ip.split("."))),
            flows=flows,
            count=int(pps * seconds * 1.05) + 1000,
            pps=pps,
            seconds=seconds,
        )
        gen = ns.python(code, stdout=subprocess.PIPE, text=True)
        start = time.monotonic()
        next_flap = start + flap_every
        next_line = start + every
        samples: list[tuple[float, float]] = []
        flaps = 0
        died = None
        if not quiet:
            print(f"{'elapsed s':>9} {'RSS MB':>8} {'packets':>12} {'drops':>8} {'flows':>7} {'ring':>7}", flush=True)
        while gen.poll() is None and time.monotonic() - start < seconds + 30:
            now = time.monotonic()
            if not engine.running:
                died = engine.message or engine.state
                break
            if now >= next_flap:
                flap(ns.host)
                flaps += 1
                next_flap += flap_every
            if now >= next_line:
                snap = engine.snapshot(top=0)
                r = rss_mb()
                samples.append((now - start, r))
                if not quiet:
                    print(
                        f"{now - start:>9.0f} {r:>8.1f} {snap.packets:>12,} {snap.kernel_drops:>8,} "
                        f"{snap.active_flows:>7,} {len(engine.ring):>7,}",
                        flush=True,
                    )
                next_line += every
            time.sleep(0.1)
        try:
            out = gen.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            gen.kill()
            out = gen.communicate()[0]
        sender = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        time.sleep(0.5)
        alive = engine.running and died is None
        if not engine.running and died is None:
            died = engine.message or engine.state
        engine.stop()
        snap = engine.snapshot(top=0)
    finally:
        if gen is not None and gen.poll() is None:
            gen.kill()
        nsmod.destroy(ns)
    warm_t = max(30.0, seconds / 4)
    after = [r for t, r in samples if t >= warm_t]
    base = after[0] if after else (samples[-1][1] if samples else rss_mb())
    growth = (max(after) - base) / base * 100 if after else 0.0
    return {
        "minutes": minutes,
        "pps": pps,
        "flaps": flaps,
        "capture_alive": alive,
        "capture_died": died,
        "sent": sender.get("sent"),
        "send_failed": sender.get("failed"),
        "lost_in_flaps": sender.get("tx_dropped"),
        "packets": snap.packets,
        "kernel_drops": snap.kernel_drops,
        "malformed": snap.malformed,
        "rss_mb": [round(r, 1) for _, r in samples],
        "rss_warm_mb": round(base, 1),
        "rss_max_after_warm_mb": round(max(after), 1) if after else None,
        "rss_growth_pct": round(growth, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--pps", type=int, default=20_000)
    ap.add_argument("--flows", type=int, default=3_000, help="distinct flows in the traffic pool")
    ap.add_argument("--flap-every", type=float, default=60.0, metavar="S")
    ap.add_argument("--every", type=float, default=10.0, metavar="S", help="seconds between printed samples")
    ap.add_argument("--flat", type=float, default=10.0, metavar="PCT", help="allowed memory growth after warm-up")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    args = ap.parse_args()
    reason = nsmod.can_make_netns()
    if reason:
        print(f"soak: cannot run ({reason})", file=sys.stderr)
        return 2
    res = soak(args.minutes, args.pps, args.flows, args.flap_every, args.every, quiet=False)
    seen = res["packets"] + res["kernel_drops"]
    print(
        f"\n{res['minutes']:g} min at {res['pps']:,} pps, {res['flaps']} flaps: sent {res['sent']:,}, "
        f"captured {res['packets']:,}, kernel drops {res['kernel_drops']:,}, lost in flaps {res['lost_in_flaps']:,}, "
        f"unaccounted {max(0, (res['sent'] or 0) - seen - (res['lost_in_flaps'] or 0)):,}\n"
        f"capture {'alive' if res['capture_alive'] else 'DIED: ' + str(res['capture_died'])}; RSS after warm-up "
        f"{res['rss_warm_mb']} MB, max {res['rss_max_after_warm_mb']} MB ({res['rss_growth_pct']:+.1f}%)"
    )
    if args.json:
        print(json.dumps(res))
    ok = res["capture_alive"] and res["rss_growth_pct"] <= args.flat
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

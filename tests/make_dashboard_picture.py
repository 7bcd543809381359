"""Render screenshots/dashboard.svg: the Grafana dashboard's own queries on real data.

Grafana is not available here, so this is not a Grafana screenshot: three `sockscope
export` processes (three "hosts") replay real captures at their recorded pace, a real
Prometheus scrapes them every second, and every panel's PromQL from
tui/export/grafana-dashboard.json is evaluated through Prometheus's HTTP API and drawn
as plain SVG in the dashboard's own layout.

    .venv/bin/python tests/make_dashboard_picture.py [--seconds 120] [--out screenshots/dashboard.svg]

The demo capture ships with sockscope; the other two hosts replay nDPI sample captures
from ../shared/pcaps (left out, with a note, where that is absent).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import time
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from export_support import REPO, Prometheus, free_port, sockscope_export, stop

DASHBOARD = REPO / "tui" / "export" / "grafana-dashboard.json"
PCAPS = REPO.parent / "shared" / "pcaps" / "ndpi"
# (host name, capture)
HOSTS = [
    ("office-gw", REPO / "tui" / "data" / "demo.pcapng"),
    ("media-box", PCAPS / "netflix.pcap"),
    ("home-hub", PCAPS / "alexa-app.pcapng"),
]
PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ff780a", "#96d98d",
           "#ffb357", "#ca95e5", "#c4162a"]  # fmt: skip
COL_W, ROW_H, PAD = 50, 30, 6
BG, PANEL_BG, TEXT, DIM, GRID = "#111217", "#181b1f", "#ccccdc", "#8e8e9e", "#2c3235"


def human(v: float, unit: str) -> str:
    """A value the way Grafana's units print it (pps, Bps, short)."""
    suffix = {"pps": " p/s", "Bps": "B/s", "short": ""}.get(unit, "")
    for prefix in ("", "k", "M", "G", "T"):
        if abs(v) < 1000:
            text = f"{v:.0f}" if prefix == "" and float(v).is_integer() else f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
            return f"{text} {prefix}{suffix.strip()}".strip() if unit == "Bps" else f"{text}{prefix}{suffix}"
        v /= 1000
    return f"{v:.1f}P{suffix}"


def speed_for(path: Path, seconds: float) -> float:
    """The --speed that makes a replay of ``path`` last ``seconds``: the replay waits for each
    gap between packets at that speed, but never more than a second (it skips long gaps)."""
    from tui.sources.pcapfile import PcapSource

    src = PcapSource(str(path))
    ts = [f[0] / 1e9 for f in src.frames()]
    src.close()
    gaps = [b - a for a, b in itertools.pairwise(ts) if b > a]

    def wall(speed: float) -> float:
        return sum(min(g / speed, 1.0) for g in gaps)

    lo, hi = 1e-4, 1e4  # wall() falls as speed grows
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if wall(mid) > seconds else (lo, mid)
    return hi


def expr_for(expr: str, window: str) -> str:
    return expr.replace("$__rate_interval", window).replace('"$instance"', '".*"')


def render(dash: dict, results: dict[int, list], t0: float, t1: float, title_note: str) -> str:
    width = 24 * COL_W
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    height = bottom * ROW_H + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Inter, Helvetica, Arial, sans-serif">',
           f'<rect width="{width}" height="{height}" fill="{BG}"/>',
           f'<text x="{PAD + 4}" y="26" fill="{TEXT}" font-size="17">{escape(dash["title"])}</text>',
           f'<text x="{width - PAD - 4}" y="26" fill="{DIM}" font-size="11" text-anchor="end">'
           f'{escape(title_note)}</text>']  # fmt: skip
    for p in dash["panels"]:
        g = p["gridPos"]
        x, y = g["x"] * COL_W + PAD, g["y"] * ROW_H + 40 + PAD
        w, h = g["w"] * COL_W - 2 * PAD, g["h"] * ROW_H - 2 * PAD
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" fill="{PANEL_BG}" stroke="{GRID}"/>')
        out.append(f'<text x="{x + 8}" y="{y + 17}" fill="{TEXT}" font-size="12">{escape(p["title"])}</text>')
        unit = p["fieldConfig"]["defaults"].get("unit", "short")
        series = results.get(p["id"], [])
        if p["type"] == "stat":
            val = series[0][1][-1][1] if series and series[0][1] else 0.0
            out.append(f'<text x="{x + w / 2}" y="{y + h / 2 + 16}" fill="{PALETTE[0]}" font-size="30" '
                       f'text-anchor="middle">{escape(human(val, unit))}</text>')  # fmt: skip
            continue
        out.extend(_timeseries(p, series, x, y, w, h, unit, t0, t1))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _timeseries(p: dict, series: list, x: float, y: float, w: float, h: float, unit: str, t0: float, t1: float):
    stacked = p["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
    legend_rows = 1 if len(series) <= 6 else 2
    px, py = x + 52, y + 26
    pw, ph = w - 62, h - 26 - 18 - 16 * legend_rows
    times = sorted({t for _, pts in series for t, _ in pts})
    base = dict.fromkeys(times, 0.0)
    lines = []
    top = 0.0
    for name, pts in series:
        vals = dict(pts)
        if stacked:
            cum = [(t, base[t] + vals.get(t, 0.0), base[t]) for t in times]
            for t, v, _ in cum:
                base[t] = v
        else:
            cum = [(t, v, 0.0) for t, v in pts]
        lines.append((name, cum))
        top = max([top] + [v for _, v, _ in cum])
    top = _nice(top)
    out = []
    for i in range(5):
        gy = py + ph - ph * i / 4
        out.append(f'<line x1="{px}" y1="{gy:.1f}" x2="{px + pw}" y2="{gy:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{px - 4}" y="{gy + 3:.1f}" fill="{DIM}" font-size="9" text-anchor="end">'
                   f'{escape(human(top * i / 4, unit))}</text>')  # fmt: skip
    span = max(t1 - t0, 1.0)
    for k in range(0, int(span) + 1, 30):
        gx = px + pw * k / span
        stamp = time.strftime("%H:%M:%S", time.gmtime(t0 + k))
        out.append(
            f'<text x="{gx:.1f}" y="{py + ph + 12}" fill="{DIM}" font-size="9" text-anchor="middle">{stamp}</text>'
        )

    def sx(t: float) -> float:
        return px + pw * (t - t0) / span

    def sy(v: float) -> float:
        return py + ph - (ph * v / top if top else 0)

    for i, (_name, cum) in enumerate(lines):
        if not cum:
            continue
        color = PALETTE[i % len(PALETTE)]
        line = " ".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v, _ in cum)
        if stacked:
            under = " ".join(f"{sx(t):.1f},{sy(b):.1f}" for t, _, b in reversed(cum))
            out.append(f'<polygon points="{line} {under}" fill="{color}" fill-opacity="0.25" stroke="none"/>')
        out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.4"/>')
    lx, ly = x + 10, y + h - 8 - 16 * (legend_rows - 1)
    per_row = math.ceil(len(lines) / legend_rows) if lines else 1
    step = (w - 20) / max(per_row, 1)
    for i, (name, _) in enumerate(lines):
        cx = lx + (i % per_row) * step
        cy = ly + (i // per_row) * 16
        color = PALETTE[i % len(PALETTE)]
        label = name if len(name) <= int(step / 6) else name[: max(int(step / 6) - 1, 1)] + "…"
        out.append(f'<rect x="{cx:.1f}" y="{cy - 7}" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{cx + 14:.1f}" y="{cy - 3}" fill="{TEXT}" font-size="10">{escape(label)}</text>')
    if not lines:
        out.append(f'<text x="{x + w / 2}" y="{y + h / 2}" fill="{DIM}" font-size="12" text-anchor="middle">'
                   "No data</text>")  # fmt: skip
    return out


def _nice(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def legend_name(fmt: str, metric: dict) -> str:
    if not fmt:
        return ",".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"
    out = fmt
    for k, v in metric.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="how long the hosts replay (default 120)")
    ap.add_argument("--out", default=str(REPO / "screenshots" / "dashboard.svg"))
    args = ap.parse_args()
    for binary in ("prometheus",):
        if shutil.which(binary) is None:
            print(f"make_dashboard_picture: {binary} is missing (apt-get install prometheus)", file=sys.stderr)
            return 1
    hosts = [h for h in HOSTS if h[1].exists()]
    for name, path in HOSTS:
        if not path.exists():
            print(f"make_dashboard_picture: {path} not found: host {name} left out", file=sys.stderr)
    dash = json.loads(DASHBOARD.read_text())
    ports = [free_port() for _ in hosts]
    prom = Prometheus([f"127.0.0.1:{p}" for p in ports], [h[0] for h in hosts])
    procs = []
    try:
        speeds = [speed_for(path, args.seconds) for _, path in hosts]
        t0 = time.time()
        for (_name, path), port, speed in zip(hosts, ports, speeds, strict=True):
            procs.append(sockscope_export("-r", str(path), "--speed", f"{speed:.4f}", "--prometheus",
                                          f"127.0.0.1:{port}", "--linger", "inf"))  # fmt: skip
        print(f"replaying {len(hosts)} captures for {args.seconds:g} s ...", file=sys.stderr)
        t1 = t0 + args.seconds * 0.95  # the picture ends while every host still replays
        time.sleep(max(0.0, t1 - time.time()) + 3)  # and the last scrapes have landed
        results: dict[int, list] = {}
        for p in dash["panels"]:
            got = []
            for target in p["targets"]:
                q = expr_for(target["expr"], "10s")
                for r in prom.query_range(q, t0 + 5, t1, 2):
                    pts = [(float(t), float(v)) for t, v in r["values"] if v not in ("NaN", "+Inf", "-Inf")]
                    got.append((legend_name(target.get("legendFormat", ""), r["metric"]), pts))
            got.sort(key=lambda s: -sum(v for _, v in s[1]))
            results[p["id"]] = got
    finally:
        for proc in procs:
            rc, _, err = stop(proc)
            if rc != 0:
                print(err, file=sys.stderr)
        prom.close()
    names = ", ".join(h[0] for h in hosts)
    note = f"the dashboard's PromQL evaluated by Prometheus on {len(hosts)} exporters replaying real captures ({names})"
    svg = render(dash, results, t0 + 5, t1, note)
    Path(args.out).write_text(svg)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Number formatting shared by the panels: short, fixed-width-friendly, SI units."""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = " ▁▂▃▄▅▆▇█"


def _si(value: float, unit: str, base: float = 1000.0) -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < base or prefix == "T":
            if prefix == "":
                return f"{value:.0f} {unit}"
            return f"{value:.1f} {prefix}{unit}"
        value /= base
    return f"{value:.1f} P{unit}"  # pragma: no cover


def human_bytes(n: float) -> str:
    return _si(n, "B")


def human_bits(bps: float) -> str:
    return _si(bps, "b/s")


def human_count(n: float) -> str:
    if n < 10_000:
        return f"{n:.0f}"
    for suffix, div in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if n < div * 1000 or suffix == "G":
            return f"{n / div:.1f}{suffix}"
    return str(n)  # pragma: no cover


def share(part: float, whole: float) -> str:
    """At most five characters: 12.3%, 100%."""
    if not whole:
        return "–"
    pct = 100.0 * part / whole
    return "100%" if pct >= 99.95 else f"{pct:.1f}%"


def duration(seconds: float) -> str:
    """1:02:03, 2:03 or 4.5s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> str:
    """One line of block characters for ``values``, the last ``width`` buckets.

    Values are grouped into ``width`` buckets of equal size (summed), so a minute of
    seconds fits in fewer columns; ``top`` scales them (default: the largest bucket).
    """
    if width <= 0:
        return ""
    vals = list(values)
    per = max(1, -(-len(vals) // width)) if vals else 1
    buckets = [sum(vals[i : i + per]) for i in range(0, len(vals), per)][-width:]
    peak = top if top is not None else max(buckets, default=0)
    out = []
    for v in buckets:
        if peak <= 0 or v <= 0:
            out.append(BLOCKS[0] if v <= 0 else BLOCKS[1])
        else:
            out.append(BLOCKS[max(1, min(8, round(8 * v / peak)))])
    return "".join(out).rjust(width)

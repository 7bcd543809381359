"""Cross-validation of the classifier against nDPI's verdicts, split in two halves by file name.

The captures of ../shared/pcaps/ndpi are split by a fixed hash of their file name, so the
split never changes and nobody chooses it: half A holds the files whose
``sha256(name.encode()).digest()[0]`` is even, half B the odd ones.  A rule written while
looking at one half's misses is checked on the other half: when the halves disagree by more
than a few points, the rules fit files rather than protocols.

Prints, for the whole set and each half, per use case (nDPI's), flows and bytes agreeing,
then the rows of captures whose flows are carried in tunnels or fragments (counted above too,
printed apart because decoding them is another part's work).  ``--misses FILE`` writes every
disagreement (file, nDPI protocol, nDPI use case, ours, our app and reason, bytes) as TSV.

    .venv/bin/python benchmarks/crossval.py [--half A|B] [--misses misses.tsv]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_ground_truth import Agreement, compare  # noqa: E402

NDPI = ROOT.parent / "shared" / "pcaps" / "ndpi"


def half_of(name: str) -> str:
    """'A' or 'B': the fixed, documented split (first byte of the SHA-256 of the file name, even or odd).

    tests/test_ground_truth.py uses the same split."""
    return "A" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "B"


def tunnelled(ndpi_protocol: str) -> bool:
    """nDPI writes a flow found inside a tunnel as 'TUNNEL:proto' (CAPWAP:..., GTP:...)."""
    return ":" in ndpi_protocol


def split(agreement: Agreement) -> dict[str, Agreement]:
    out = {"all": agreement, "A": Agreement(), "B": Agreement()}
    for o in agreement.outcomes:
        out[half_of(o.row.file)].outcomes.append(o)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("A", "B"), help="replay only this half")
    ap.add_argument("--misses", type=Path, help="write every disagreement to this TSV file")
    args = ap.parse_args()
    if not (NDPI / "truth.tsv").is_file():
        print(f"nDPI captures not found at {NDPI}: nothing to measure")
        return
    only = None if args.half is None else (lambda name: half_of(name) == args.half)
    parts = split(compare(NDPI, only=only))
    for name, agr in parts.items():
        if not agr.outcomes:
            continue
        files = len({o.row.file for o in agr.outcomes})
        print(f"\n== {'whole set' if name == 'all' else 'half ' + name} ({files} captures)")
        print(agr.table())
    tun = Agreement([o for o in parts["all"].outcomes if tunnelled(o.row.ndpi)])
    if tun.outcomes:
        print(f"\n== of which inside tunnels (nDPI 'TUNNEL:proto' rows, {len(tun.outcomes)})")
        print(tun.table())
    fa, fn = parts["A"].flows if parts["A"].outcomes else (0, 1)
    fb, gn = parts["B"].flows if parts["B"].outcomes else (0, 1)
    if parts["A"].outcomes and parts["B"].outcomes:
        ba, bn = parts["A"].bytes
        bb, bm = parts["B"].bytes
        print(
            f"\nhalves: flows {100 * fa / fn:.1f}% vs {100 * fb / gn:.1f}% "
            f"(gap {abs(100 * fa / fn - 100 * fb / gn):.1f}), bytes {100 * ba / bn:.1f}% vs {100 * bb / bm:.1f}% "
            f"(gap {abs(100 * ba / bn - 100 * bb / bm):.1f})"
        )
    if args.misses:
        with args.misses.open("w") as fh:
            for o in sorted(parts["all"].outcomes, key=lambda o: -o.row.bytes):
                if o.ours != o.row.use_case:
                    r = o.row
                    fh.write(
                        f"{half_of(r.file)}\t{r.file}\t{r.l4}\t{r.a}\t{r.b}\t{r.ndpi}\t{r.category}\t{r.use_case}\t"
                        f"{o.ours}\t{o.app}\t{o.reason}\t{o.name}\t{r.bytes}\n"
                    )
        print(f"\ndisagreements written to {args.misses}")


if __name__ == "__main__":
    main()

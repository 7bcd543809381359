"""The common atheris driver: instrument sockscope, seed the corpus, run one target.

Run a target directly for as long as you like (libFuzzer options pass through):

    .venv/bin/python fuzz/fuzz_decode.py -max_total_time=3600 -artifact_prefix=tests/regressions/decode-
    .venv/bin/python fuzz/fuzz_classify.py -max_total_time=3600 -artifact_prefix=tests/regressions/classify-

``-seed_corpus=DIR`` (ours, not libFuzzer's) writes the seed inputs into DIR and fuzzes
from there; every ``REPORT_EVERY`` inputs the resident memory is printed as
``rss_mb <MB> after <N> inputs`` so a caller can check it stays flat.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

REPORT_EVERY = int(os.environ.get("FUZZ_REPORT_EVERY", "20000"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run(target_name: str) -> None:
    """Instrument tui, then fuzz ``Targets.<target_name>`` seeded by the matching seed function."""
    with atheris.instrument_imports(include=["tui"]):
        import tui.classify.classifier
        import tui.classify.quic
        import tui.classify.wire
        import tui.decode
        import tui.engine
        import tui.flows  # noqa: F401
    from fuzz import targets

    argv = list(sys.argv)
    seed_dirs = [a.split("=", 1)[1] for a in argv if a.startswith("-seed_corpus=")]
    argv = [a for a in argv if not a.startswith("-seed_corpus=")]
    seeds: Iterable[bytes] = targets.decode_seeds() if target_name == "decode_target" else targets.classify_seeds()
    for d in seed_dirs:
        _write_seeds(Path(d), seeds)
        argv.append(d)
    fn: Callable[[bytes], None] = getattr(targets.Targets(), target_name)
    count = 0

    def one_input(data: bytes) -> None:
        nonlocal count
        fn(data)
        count += 1
        if count % REPORT_EVERY == 0:
            print(f"rss_mb {_rss_mb():.1f} after {count} inputs", file=sys.stderr, flush=True)

    atheris.Setup(argv, one_input)
    print(f"rss_mb {_rss_mb():.1f} after 0 inputs", file=sys.stderr, flush=True)
    atheris.Fuzz()


def _write_seeds(folder: Path, seeds: Iterable[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (folder / hashlib.sha1(s).hexdigest()).write_bytes(s)

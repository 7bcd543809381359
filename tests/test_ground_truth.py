"""Agreement with nDPI's verdicts on its own test captures (../shared/pcaps/ndpi/truth.tsv).

Each capture is replayed through the engine with the classifier; every flow nDPI
classified is matched to ours by transport and unordered endpoint pair, and the use
cases are compared (our ``unknown`` counts as a miss).  The per-use-case table is
printed so the figures in the README can be checked; run with ``-s`` to see it.
"""

from __future__ import annotations

import ipaddress
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui.classify import load_classifier
from tui.engine import Engine
from tui.flows import address_text
from tui.sources.pcapfile import PcapSource

FLOW_TARGET = 0.90
BYTE_TARGET = 0.95


@dataclass(slots=True)
class TruthRow:
    file: str
    l4: str
    a: str
    b: str
    ndpi: str
    category: str
    use_case: str
    bytes: int


@dataclass(slots=True)
class Outcome:
    row: TruthRow
    ours: str  # our use case, or "no flow"
    app: str | None = None
    reason: str | None = None
    name: str | None = None


@dataclass(slots=True)
class Agreement:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def flows(self) -> tuple[int, int]:
        return sum(o.ours == o.row.use_case for o in self.outcomes), len(self.outcomes)

    @property
    def bytes(self) -> tuple[int, int]:
        agree = sum(o.row.bytes for o in self.outcomes if o.ours == o.row.use_case)
        return agree, sum(o.row.bytes for o in self.outcomes)

    def table(self) -> str:
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for o in self.outcomes:
            c = per[o.row.use_case]
            c[1] += 1
            c[3] += o.row.bytes
            if o.ours == o.row.use_case:
                c[0] += 1
                c[2] += o.row.bytes
        lines = [f"{'use case (nDPI)':<18}{'flows agree':>16}{'%':>8}{'bytes agree':>26}{'%':>8}"]
        for uc in sorted(per):
            fa, fn, ba, bn = per[uc]
            lines.append(
                f"{uc:<18}{fa:>7} / {fn:<6}{100 * fa / fn:>8.1f}{ba:>12} / {bn:<11}{100 * ba / max(bn, 1):>8.1f}"
            )
        fa, fn = self.flows
        ba, bn = self.bytes
        lines.append(
            f"{'all':<18}{fa:>7} / {fn:<6}{100 * fa / fn:>8.1f}{ba:>12} / {bn:<11}{100 * ba / max(bn, 1):>8.1f}"
        )
        return "\n".join(lines)


def read_truth(path: Path) -> list[TruthRow]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 8:
            rows.append(TruthRow(*parts[:7], int(parts[7])))
    return rows


def _endpoint(text: str) -> tuple[str, int]:
    """'ip:port' or '[ipv6]:port' in the canonical text our flows use (RFC 5952 for IPv6)."""
    addr, _, port = text.rpartition(":")
    addr = addr.strip("[]")
    try:
        addr = str(ipaddress.ip_address(addr))
    except ValueError:
        pass  # left as nDPI wrote it (it prints some IPv6 addresses wrongly, e.g. with two '::')
    return addr, int(port)


def flows_of(path: Path, classifier) -> dict[tuple, list]:
    """Our flows of one capture keyed by (l4, unordered endpoint pair)."""
    engine = Engine(classifier=classifier, idle_timeout=None)
    engine.run(PcapSource(str(path)))
    out: dict[tuple, list] = defaultdict(list)
    for f in engine.table.flows.values():
        a = (address_text(f.src, f.family), f.sport)
        b = (address_text(f.dst, f.family), f.dport)
        out[(f.proto.upper(), frozenset((a, b)))].append(f)
    return out


def compare(
    ndpi_dir: Path,
    classifier_factory=lambda: load_classifier(None, use_default_user=False),
    only=None,
) -> Agreement:
    """Replay every capture named in truth.tsv (those ``only(name)`` accepts) and match nDPI's flows to ours."""
    rows = read_truth(ndpi_dir / "truth.tsv")
    by_file: dict[str, list[TruthRow]] = defaultdict(list)
    for r in rows:
        if only is None or only(r.file):
            by_file[r.file].append(r)
    result = Agreement()
    for name, file_rows in sorted(by_file.items()):
        ours = flows_of(ndpi_dir / name, classifier_factory())
        for r in file_rows:
            key = (r.l4.upper(), frozenset((_endpoint(r.a), _endpoint(r.b))))
            found = ours.get(key)
            if not found:
                result.outcomes.append(Outcome(r, "no flow"))
                continue
            f = max(found, key=lambda f: f.bytes_ab + f.bytes_ba)
            result.outcomes.append(Outcome(r, f.use_case, f.app, f.reason, f.name))
    return result


@pytest.mark.timeout(600)
def test_use_cases_agree_with_ndpi(pcaps_dir):
    agreement = compare(pcaps_dir / "ndpi")
    table = agreement.table()
    print("\n" + table, file=sys.stderr)
    fa, fn = agreement.flows
    ba, bn = agreement.bytes
    assert fn > 1000, "truth.tsv should list over a thousand flows"
    assert fa / fn >= FLOW_TARGET, f"flow agreement {fa}/{fn} below {FLOW_TARGET:.0%}\n{table}"
    assert ba / bn >= BYTE_TARGET, f"byte agreement {ba}/{bn} below {BYTE_TARGET:.0%}\n{table}"


# Cross-validation (benchmarks/crossval.py prints the full table): the captures split in two
# by a fixed hash of the file name; each half must reach the floors on its own, and the halves
# must stay close, or the rules fit files rather than protocols.
HALF_FLOW_FLOOR = 0.90
HALF_BYTE_FLOOR = 0.95
HALF_GAP = 0.03


def _half(name: str) -> str:
    import hashlib

    return "A" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "B"


@pytest.mark.timeout(600)
def test_cross_validation_halves_agree_with_ndpi(pcaps_dir):
    whole = compare(pcaps_dir / "ndpi")
    halves = {"A": Agreement(), "B": Agreement()}
    for o in whole.outcomes:
        halves[_half(o.row.file)].outcomes.append(o)
    rates = {}
    for name, agr in halves.items():
        print(f"\nhalf {name}\n{agr.table()}", file=sys.stderr)
        fa, fn = agr.flows
        ba, bn = agr.bytes
        assert fn > 300, f"half {name} has only {fn} flows: the split should be near even"
        rates[name] = (fa / fn, ba / bn)
        assert fa / fn >= HALF_FLOW_FLOOR, f"half {name}: flow agreement {fa}/{fn}\n{agr.table()}"
        assert ba / bn >= HALF_BYTE_FLOOR, f"half {name}: byte agreement {ba}/{bn}\n{agr.table()}"
    assert abs(rates["A"][0] - rates["B"][0]) <= HALF_GAP, rates
    assert abs(rates["A"][1] - rates["B"][1]) <= HALF_GAP, rates

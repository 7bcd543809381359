"""nDPI's host names against sockscope's name rules (issue 12 audit).

ndpiReader 4.2 (Debian's libndpi-bin) names services by the host names compiled into
libndpi.  This takes the domain-like strings of the library (``strings``), sends a TLS
ClientHello with each as SNI (``a.`` before a pattern that starts with a dot) through
ndpiReader in a capture built in a temporary directory, maps nDPI's protocol and category to
a use case as truth.tsv does, and prints every name where sockscope's name rules (TLS: web
when no rule matches) give another use case.  The rows left are judgement calls (README,
Classification), generic CDN hosts and ad or analytics domains nDPI lists.

    .venv/bin/python benchmarks/ndpi_host_names.py
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ndpi_heldout import use_case  # noqa: E402
from ndpi_port_guesses import _frame, _tcp  # noqa: E402
from synth import client_hello  # noqa: E402

from tui.classify import load_classifier  # noqa: E402

LIBS = ("/usr/lib/x86_64-linux-gnu/libndpi.so.4.2.0", "/usr/lib/libndpi.so.4.2.0")
_DOMAIN = re.compile(r"^[-.a-z0-9]*[a-z0-9-]+\.[a-z]{2,6}\.?$")
_LINE = re.compile(r"^\t\d+\tTCP \S+:(\d+) <-> \S+ \[proto: [\d.]+/([^\]]+)\].*?\[cat: (\w+)/")
CLIENT = bytes((192, 0, 2, 10))
FIRST_PORT = 20000


def host_names(lib: str) -> list[str]:
    """The library's domain-like strings as names a client could ask for."""
    out = subprocess.run(["strings", "-n", "4", lib], capture_output=True, text=True, check=True).stdout
    names = set()
    for s in out.splitlines():
        if not _DOMAIN.match(s) or ".." in s:
            continue
        s = s.rstrip(".")
        names.add("a" + s if s[0] in ".-" else s)
    return sorted(names)[: 65535 - FIRST_PORT]


def write_capture(path: Path, names: list[str]) -> None:
    """Per name: a handshake to port 443 and the ClientHello, from its own client port."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        usec = 0
        for i, name in enumerate(names):
            server = bytes((198, 51, 100, i % 250 + 1))
            sp = FIRST_PORT + i
            frames = (
                _frame(CLIENT, server, 6, _tcp(sp, 443, 1, 0, 0x02)),
                _frame(server, CLIENT, 6, _tcp(443, sp, 5, 2, 0x12)),
                _frame(CLIENT, server, 6, _tcp(sp, 443, 2, 6, 0x10)),
                _frame(CLIENT, server, 6, _tcp(sp, 443, 2, 6, 0x18, client_hello(name))),
            )
            for f in frames:
                usec += 10
                out.write(struct.pack("<IIII", 1_700_000_000 + usec // 1_000_000, usec % 1_000_000, len(f), len(f)))
                out.write(f)


def main() -> None:
    lib = next((p for p in LIBS if Path(p).exists()), None)
    if shutil.which("ndpiReader") is None or lib is None or shutil.which("strings") is None:
        print("ndpiReader, libndpi 4.2 or strings not found (apt-get install -y libndpi-bin binutils)")
        return
    names = host_names(lib)
    rules = load_classifier(None, use_default_user=False).rules
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "names.pcap"
        write_capture(cap, names)
        out = subprocess.run(["ndpiReader", "-i", str(cap), "-v", "2"], capture_output=True, text=True, timeout=600)
    ours_uses = 0
    rows = []
    for line in out.stdout.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        sport, proto, cat = m.groups()
        uc = use_case(proto, cat)
        if uc is None:
            continue
        ours_uses += 1
        name = names[int(sport) - FIRST_PORT]
        hit = rules.match_name(name)
        ours = hit[0].use_case if hit is not None else "web"
        if ours != uc:
            rows.append((name, proto, cat, uc, ours, hit[1] if hit is not None else "-"))
    print(f"{len(names)} names from {lib}; {ours_uses} of them nDPI puts in one of our use cases; where we differ:")
    print(f"{'name':<44} {'nDPI':<22} {'category':<13} {'its use case':<15} {'ours':<15} our rule")
    for name, proto, cat, uc, ours, pat in rows:
        print(f"{name:<44} {proto:<22} {cat:<13} {uc:<15} {ours:<15} {pat}")


if __name__ == "__main__":
    main()

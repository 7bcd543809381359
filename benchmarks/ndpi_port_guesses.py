"""Which ports nDPI guesses a protocol by, against sockscope's port rules (issue 12 audit).

Builds a capture (in a temporary directory, never sent anywhere) with one UDP and one TCP
conversation of random bytes to every port from 192.0.2.10 to documentation addresses, runs
ndpiReader (Debian's libndpi-bin, nDPI 4.2) on it and prints every port nDPI matched "by port"
to a protocol of one of our use cases where sockscope's port rules give another use case or
none.  Random payloads keep nDPI's dissectors quiet, so what it prints is its default-port
table; the rows left are judgement calls (README, Classification) or ports nobody documents.

    .venv/bin/python benchmarks/ndpi_port_guesses.py
"""

from __future__ import annotations

import os
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
from synth import ip_checksum  # noqa: E402

from tui.classify import load_classifier  # noqa: E402

CLIENT = bytes((192, 0, 2, 10))
NETS = ((198, 51, 100), (203, 0, 113), (192, 0, 2))
SPORT = 59999  # the client's port: one no rule claims
_LINE = re.compile(
    r"^\t\d+\t(\S+) \S+ <-> \S+:(\d+) \[proto: [\d.]+/([^\]]+)\].*?\[Confidence: ([^\]]+)\].*?\[cat: (\w+)/"
)


def _frame(src: bytes, dst: bytes, proto: int, l4: bytes) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", ip_checksum(h)) + h[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + h + l4


def _udp(sp: int, dp: int, pl: bytes) -> bytes:
    return struct.pack("!HHHH", sp, dp, 8 + len(pl), 0) + pl


def _tcp(sp: int, dp: int, seq: int, ack: int, flags: int, pl: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 0x50, flags, 65535, 0, 0) + pl


def write_capture(path: Path) -> None:
    """Every port once per transport: a datagram each way; a handshake and a segment each way."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        usec = 0
        for port in range(1, 65536):
            if port == SPORT:
                continue
            server = bytes((*NETS[port % 3], (port // 3) % 254 + 1))
            a, b = os.urandom(24), os.urandom(24)
            frames = (
                _frame(CLIENT, server, 17, _udp(SPORT, port, a)),
                _frame(server, CLIENT, 17, _udp(port, SPORT, b)),
                _frame(CLIENT, server, 6, _tcp(SPORT, port, 1, 0, 0x02)),
                _frame(server, CLIENT, 6, _tcp(port, SPORT, 5, 2, 0x12)),
                _frame(CLIENT, server, 6, _tcp(SPORT, port, 2, 6, 0x18, a)),
                _frame(server, CLIENT, 6, _tcp(port, SPORT, 6, 26, 0x18, b)),
            )
            for f in frames:
                usec += 10
                out.write(struct.pack("<IIII", 1_700_000_000 + usec // 1_000_000, usec % 1_000_000, len(f), len(f)))
                out.write(f)


def main() -> None:
    if shutil.which("ndpiReader") is None:
        print("ndpiReader not found (apt-get install -y libndpi-bin): nothing to compare")
        return
    rules = load_classifier(None, use_default_user=False).rules
    ports: dict[tuple[str, int], object] = dict(rules.ports)
    with tempfile.TemporaryDirectory() as tmp:
        cap = Path(tmp) / "ports.pcap"
        write_capture(cap)
        out = subprocess.run(["ndpiReader", "-i", str(cap), "-v", "2"], capture_output=True, text=True, timeout=600)
    rows: dict[tuple, list[int]] = {}
    guessed = 0
    for line in out.stdout.splitlines():
        m = _LINE.match(line)
        if not m or m.group(4) != "Match by port":
            continue
        l4, port, proto, _conf, cat = m.groups()
        uc = use_case(proto, cat)
        if uc is None:
            continue
        guessed += 1
        rule = ports.get((l4, int(port)))
        ours = rule.use_case if rule is not None else "unknown"
        if ours != uc:
            rows.setdefault((l4, proto, cat, uc, ours, rule.app if rule is not None else "-"), []).append(int(port))
    print(f"nDPI 4.2 matched {guessed} ports by port to a protocol of our use cases; where we differ:")
    print(f"{'l4':<4} {'nDPI':<14} {'category':<14} {'its use case':<16} {'ours':<16} {'our app':<12} ports")
    for (l4, proto, cat, uc, ours, app), plist in sorted(rows.items()):
        print(f"{l4:<4} {proto:<14} {cat:<14} {uc:<16} {ours:<16} {app:<12} {plist[:10]}")


if __name__ == "__main__":
    main()

"""Rules files: the built-in one loads and is packaged; user files add and override; bad ones name the line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from classify_helpers import client_hello, handshake, only_flow, run, tcp, udp

from tui.classify import RulesError, load_classifier
from tui.classify.rules import BUILTIN, load_rules
from tui.snapshot import USE_CASES

REPO = Path(__file__).resolve().parent.parent


def test_builtin_rules_cover_every_use_case():
    rules = load_rules(None, use_default_user=False)
    used = {r.use_case for r in rules.ports.values()} | {h[0].use_case for h in rules.suffix.values()}
    assert set(USE_CASES) - {"unknown"} <= used
    assert rules.ports[("TCP", 25)].reason == "port 25/tcp"


def test_name_patterns_exact_suffix_prefix_glob(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text(
        '[[names]]\nuse_case = "gaming"\n'
        'patterns = ["exact.example", "*.games.example", "play.*", "srv*-edge.example"]\n'
    )
    rules = load_rules(str(f), use_default_user=False)
    assert rules.match_name("exact.example")[1] == "exact.example"
    assert rules.match_name("a.b.games.example")[1] == "*.games.example"
    assert rules.match_name("games.example")[1] == "*.games.example"
    assert rules.match_name("play.anything.org")[1] == "play.*"
    assert rules.match_name("srv12-edge.example")[1] == "srv*-edge.example"
    assert rules.match_name("nogames.example") is None


def test_user_rules_override_and_add(tmp_path):
    f = tmp_path / "rules.toml"
    f.write_text(
        "# my rules\n"
        '[[ports]]\napp = "Intranet"\nuse_case = "file_transfer"\ntcp = [443]\n\n'
        '[[names]]\nservice = "Work chat"\nuse_case = "messaging"\npatterns = ["*.chat.corp.example"]\n\n'
        '[[payloads]]\napp = "MyGame"\nuse_case = "gaming"\ntransport = "udp"\nhex = "c0ffee"\n\n'
        '[signatures]\ntls = { app = "TLS", use_case = "messaging" }\n'
    )
    c = load_classifier(str(f), use_default_user=False)
    f1 = only_flow(run([*handshake(), tcp(client_hello("x.chat.corp.example"), dport=443)], c))
    assert (f1.use_case, f1.reason) == ("messaging", "tls sni *.chat.corp.example")
    f2 = only_flow(run([udp(b"\xc0\xff\xee\x00", dport=50001)], c))
    assert (f2.app, f2.use_case) == ("MyGame", "gaming")
    # Fresh classifiers below: the first one has learned the server's name from the SNI.
    f3 = only_flow(run(handshake(dport=443), load_classifier(str(f), use_default_user=False)))
    assert (f3.app, f3.use_case) == ("Intranet", "file_transfer")
    # A TLS flow with no matching name takes the port's use case over the carrier's.
    c = load_classifier(str(f), use_default_user=False)
    f4 = only_flow(run([*handshake(), tcp(client_hello("www.example.org"), dport=443)], c))
    assert f4.use_case == "file_transfer"
    # Where no port rule applies, the user's [signatures] entry gives TLS its use case.
    c = load_classifier(str(f), use_default_user=False)
    f5 = only_flow(run([*handshake(dport=40443), tcp(client_hello("www.example.org"), dport=40443)], c))
    assert (f5.app, f5.use_case, f5.reason) == ("TLS", "messaging", "tls sni")


def test_no_name_pattern_has_two_use_cases_in_the_builtin_rules():
    """A pattern in two [[names]] rules of different use cases: the later one silently wins."""
    claims: dict[str, set[str]] = {}
    for entry in tomllib.loads(BUILTIN.read_text())["names"]:
        for pat in entry["patterns"]:
            claims.setdefault(pat.lower(), set()).add(entry["use_case"])
    assert len(claims) > 500
    assert {p: u for p, u in claims.items() if len(u) > 1} == {}


# Services' own domains from the audit against a recent nDPI's host list (issue 12), one or
# more per use case and per pattern kind (suffix, exact, first label, glob), and names the
# audit left to web on purpose (generic CDNs, analytics, nDPI's categories we think wrong).
@pytest.mark.parametrize(
    ("sni", "use_case", "pattern"),
    [
        ("www.espn.com", "streaming", "*.espn.com"),
        ("stream.revma.ihrhls.com", "streaming", "*.ihrhls.com"),
        ("video-edge-c2a1.abc.live-video.net", "streaming", "*.live-video.net"),
        ("1s3.lvlt.dash.us.aiv-cdn.net.c.footprint.net", "streaming", "*.aiv-cdn.net.c.footprint.net"),
        ("iptv.sky.de", "streaming", "iptv.sky.*"),
        ("irc.libera.chat", "messaging", "irc.*"),
        ("dl-media.viber.com", "messaging", "*.viber.com"),
        ("chat-e2ee-mini.facebook.com", "messaging", "chat-e2ee-mini.facebook.com"),
        ("global.gotowebinar.com", "voice", "*.gotowebinar.com"),
        ("publist.mumble.info", "voice", "publist.mumble.info"),
        ("services.gfe.nvidia.com", "gaming", "*.gfe.nvidia.com"),
        ("blzddist1-a.akamaihd.net", "gaming", "blzddist1-a.akamaihd.net"),
        ("www.dota2.com", "gaming", "*.dota2.com"),
        ("gmail.com", "mail", "*.gmail.com"),
        ("mail-api.proton.me", "mail", "mail-api.proton.me"),
        ("tracker.openbittorrent.com", "file_transfer", "*.openbittorrent.com"),
        ("discovery-v4.syncthing.net", "file_transfer", "discovery*.syncthing.net"),
        ("www.nvidia.com", "web", None),
        ("dtrace.nvidia.com", "web", None),
        ("cdnjs.cloudflare.com", "web", None),
        ("spotify.demdex.net", "web", None),
        ("ircam.fr", "web", None),
    ],
)
def test_audited_service_names_classify_tls_end_to_end(sni, use_case, pattern):
    c = load_classifier(None, use_default_user=False)
    f = only_flow(run([*handshake(), tcp(client_hello(sni), dport=443)], c))
    assert f.use_case == use_case
    assert f.name == sni
    if pattern is not None:
        assert f.reason == f"tls sni {pattern}"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[[ports]]\napp = "X"\nuse_case = "web"\ntcp = [80,,]\n', 4, "line 4"),
        ('\n\n[[ports]]\napp = "X"\nuse_case = "surfing"\ntcp = [80]\n', 3, "use_case must be one of"),
        (
            '[[ports]]\napp = "X"\nuse_case = "web"\ntcp = [80]\n\n[[ports]]\nuse_case = "web"\ntcp = [70000]\n',
            6,
            "out of range",
        ),
        ('[[names]]\nuse_case = "web"\npatterns = ["bad name!"]\n', 1, "bad name pattern"),
        ('[[payloads]]\nuse_case = "web"\nhex = "zz"\n', 1, "hex must be"),
        ('[[ports]]\nuse_case = "web"\ncolour = "red"\ntcp = [1]\n', 1, "unknown field"),
        ('[signatures]\nfoo = 1\ntls = { use_case = "nope" }\n', 2, "must be tables"),
        ("[weird]\n", 0, "unknown section"),
    ],
)
def test_bad_rules_file_names_the_line(tmp_path, text, line, words):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(RulesError) as err:
        load_classifier(str(f), use_default_user=False)
    msg = str(err.value)
    assert str(f) in msg and words in msg
    if line:
        assert f"line {line}" in msg


def test_missing_rules_file_is_an_error():
    with pytest.raises(RulesError, match="not found"):
        load_classifier("/nonexistent/rules.toml")


def test_report_with_bad_rules_exits_nonzero_with_message(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[[ports]]\nuse_case = "web"\ntcp = ["x"]\n')
    pcap = tmp_path / "empty.pcap"
    pcap.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(pcap), "--rules", str(f), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "bad.toml: line 1" in proc.stderr and "bad port" in proc.stderr


def test_rules_file_is_in_the_wheel(tmp_path):
    """hatchling packages rules.toml with the code (a wheel built from this tree)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if proc.returncode != 0 and "hatchling" in (proc.stdout + proc.stderr):
        print(f"SKIP: hatchling not installed for an offline wheel build\n{proc.stderr[-500:]}", file=sys.stderr)
        pytest.skip("hatchling not installed for an offline wheel build")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("sockscope-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tui/classify/rules.toml" in names
    assert BUILTIN.name == "rules.toml"


def test_unreadable_home_is_no_user_rules_file(tmp_path):
    """HOME pointing at a folder the user may not enter (root's, say) means no user rules, not a crash."""
    import os
    import sys

    import pytest
    import sudo_like

    if os.geteuid() != 0:
        print("SKIP: needs root to run as another user", file=sys.stderr)
        pytest.skip("needs root to run as another user")
    home = tmp_path / "home"
    (home / ".config" / "sockscope").mkdir(parents=True)
    (home / ".config" / "sockscope" / "rules.toml").write_text("")
    home.chmod(0o700)
    code = "from tui.classify import load_classifier; load_classifier(None); print('ok')"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(sudo_like.REPO)}
    out = sudo_like.run(sudo_like.as_user_argv([sys.executable, "-c", code]), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

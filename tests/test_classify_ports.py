"""Port rules: a port named on its own is never swallowed by another rule's range."""

from __future__ import annotations

from tui.classify.rules import Rules, load_rules, parse_rules


def test_mdns_port_not_taken_by_a_game_range():
    rules = load_rules(None, use_default_user=False)
    rule, port = rules.port("UDP", 57917, 5353)
    assert port == 5353
    assert (rule.app, rule.use_case) == ("MDNS", "name_resolution")


def test_every_single_port_keeps_its_own_rule_in_the_shipped_file():
    """No range in rules.toml overrides a port that another entry names alone."""
    import tomllib
    from importlib.resources import files

    doc = tomllib.loads(files("tui.classify").joinpath("rules.toml").read_text())
    rules = load_rules(None, use_default_user=False)
    for entry in doc.get("ports", []):
        for t in ("tcp", "udp", "sctp"):
            for item in entry.get(t, []):
                if isinstance(item, int):
                    got = rules.ports[(t.upper(), item)]
                    named_alone = [e for e in doc["ports"] if item in e.get(t, []) and e.get("app") == got.app]
                    assert named_alone, f"{t}/{item}: {got.app} came from a range over a single-port rule"


def test_range_after_single_port_in_same_file_does_not_override():
    into = Rules()
    text = """
[[ports]]
app = "Alone"
use_case = "web"
udp = [7000]

[[ports]]
app = "Ranged"
use_case = "gaming"
udp = ["6990-7010"]
"""
    parse_rules(text, "test.toml", into)
    assert into.ports[("UDP", 7000)].app == "Alone"
    assert into.ports[("UDP", 7001)].app == "Ranged"


def test_user_file_range_still_overrides_builtin_single_port():
    """A later file (the user's) wins, ranges included: that is what a user rules file is for."""
    into = Rules()
    parse_rules('[[ports]]\napp = "A"\nuse_case = "web"\nudp = [7000]\n', "builtin.toml", into)
    parse_rules('[[ports]]\napp = "B"\nuse_case = "gaming"\nudp = ["6990-7010"]\n', "user.toml", into)
    assert into.ports[("UDP", 7000)].app == "B"


def test_tcp_3478_is_stun_turn_not_a_console():
    """TURN over TCP (RFC 8656) on STUN's registered port is a call, whatever Sony's list says."""
    rules = load_rules(None, use_default_user=False)
    rule, port = rules.port("TCP", 51000, 3478)
    assert port == 3478
    assert (rule.app, rule.use_case) == ("STUN", "voice")
    rule, _ = rules.port("TCP", 51000, 9295)
    assert rule.app == "PlayStation"

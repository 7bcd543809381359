"""[[networks]] rules (CIDR -> service, longest prefix) and the build_networks script on small sample lists."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest
from classify_helpers import SERVER, client_hello, handshake, only_flow, run, tcp, udp

from tui.classify import RulesError, load_classifier
from tui.classify.build_networks import main as build_main
from tui.classify.networks import NetworkTable
from tui.classify.rules import load_rules


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def test_longest_prefix_wins_ipv4_and_ipv6():
    t = NetworkTable()
    t.add("198.51.0.0/16", "wide")
    t.add("198.51.100.0/24", "narrow")
    t.add("198.51.100.128/25", "narrower")
    t.add("10.0.0.0/8", "short")  # shorter than the 16-bit gate: every /16 under it opens
    t.add("2001:db8::/32", "v6 wide")
    t.add("2001:db8:1::/48", "v6 narrow")
    assert t.lookup(_ip("198.51.100.200")) == "narrower"
    assert t.lookup(_ip("198.51.100.1")) == "narrow"
    assert t.lookup(_ip("198.51.7.1")) == "wide"
    assert t.lookup(_ip("10.200.3.4")) == "short"
    assert t.lookup(_ip("198.52.0.1")) is None
    assert t.lookup(_ip("2001:db8:1::5")) == "v6 narrow"
    assert t.lookup(_ip("2001:db8:2::5")) == "v6 wide"
    assert t.lookup(_ip("2001:db9::1")) is None
    assert t.lookup(b"\x01\x02") is None  # not an address: no hit, no error


def test_ipv6_gate_looks_past_a_crowded_16_bits():
    # 2001::/16 holds most of the IPv6 Internet: a /48 in it must not send every 2001:... address
    # to the prefix lookup, and must still be found
    t = NetworkTable()
    t.add("2001:67c:4e8::/48", "narrow")
    t.add("2a00::/12", "short")  # shorter than 16 bits: every /16 under it is open
    assert t.v6.admits(_ip("2001:67c:4e8::1")) and t.lookup(_ip("2001:67c:4e8::1")) == "narrow"
    assert not t.v6.admits(_ip("2001:db8::1")) and t.lookup(_ip("2001:db8::1")) is None
    assert t.v6.admits(_ip("2a0f:1::1")) and t.lookup(_ip("2a0f:1::1")) == "short"
    t.add("198.51.100.7/32", "host")
    assert t.lookup(_ip("198.51.100.7")) == "host" and t.lookup(_ip("198.51.100.8")) is None


def test_bad_blocks_are_refused():
    t = NetworkTable()
    with pytest.raises(ValueError):
        t.add("198.51.100.1/24", "host bits set")  # a typo must not widen silently
    with pytest.raises(ValueError):
        t.add("0.0.0.0/0", "everything")


def _rules(tmp_path, text: str):
    f = tmp_path / "nets.toml"
    f.write_text(text)
    return str(f)


def test_network_names_a_tls_flow_without_sni(tmp_path):
    path = _rules(
        tmp_path,
        '[[networks]]\nservice = "Doc video"\nuse_case = "streaming"\nsource = "test"\n'
        'cidrs = ["198.51.100.0/24", "2001:db8::/32"]\n',
    )
    c = load_classifier(path, use_default_user=False)
    f = only_flow(run([*handshake(dport=443), tcp(client_hello(None), dport=443)], c))
    assert (f.app, f.use_case) == ("TLS", "streaming")
    assert f.reason.endswith("network 198.51.100.0/24")
    # a name the flow carries that a rule knows outranks the address; one no rule knows does not
    c = load_classifier(path, use_default_user=False)
    f = only_flow(run([*handshake(dport=443), tcp(client_hello("imap.example.org"), dport=443)], c))
    assert (f.use_case, f.reason) == ("mail", "tls sni imap.*")
    c = load_classifier(path, use_default_user=False)
    f = only_flow(run([*handshake(dport=443), tcp(client_hello("www.example.com"), dport=443)], c))
    assert f.use_case == "streaming"


def test_network_gives_stun_its_service(tmp_path):
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)
    plain = only_flow(run([udp(stun, dport=3478)]))
    assert (plain.app, plain.use_case) == ("STUN", "voice")
    path = _rules(tmp_path, '[[networks]]\nservice = "Meetings"\nuse_case = "streaming"\ncidrs = ["198.51.100.0/24"]\n')
    f = only_flow(run([udp(stun, dport=3478)], load_classifier(path, use_default_user=False)))
    assert (f.app, f.use_case) == ("STUN", "streaming")
    assert "network 198.51.100.0/24" in f.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[networks]]\nuse_case = "web"\n', "needs cidrs"),
        ('[[networks]]\nuse_case = "web"\ncidrs = ["198.51.100.0/33"]\n', "bad network"),
        ('[[networks]]\nuse_case = "web"\ncidrs = [42]\n', "bad network"),
        ('[[networks]]\nuse_case = "nope"\ncidrs = ["198.51.100.0/24"]\n', "use_case must be one of"),
    ],
)
def test_bad_networks_rule_names_the_line(tmp_path, text, words):
    with pytest.raises(RulesError, match=words) as exc:
        load_rules(_rules(tmp_path, "# comment\n" + text), use_default_user=False)
    assert "line 2" in str(exc.value)


def test_builtin_networks_cite_a_source():
    import tomllib

    from tui.classify.rules import BUILTIN

    doc = tomllib.loads(BUILTIN.read_text())
    assert doc["networks"], "the built-in rules ship some published blocks"
    for entry in doc["networks"]:
        assert entry.get("source", "").strip(), f"{entry.get('service')}: no source"
    rules = load_rules(None, use_default_user=False)
    assert rules.networks.lookup(_ip("149.154.167.91"))[0].use_case == "messaging"  # Telegram's cidr.txt
    assert rules.networks.lookup(_ip(SERVER)) is None  # documentation ranges are nobody's


def _samples(tmp_path):
    aws = tmp_path / "ip-ranges.json"
    aws.write_text(
        json.dumps(
            {
                "prefixes": [
                    {"ip_prefix": "198.51.100.0/25", "region": "x", "service": "AMAZON"},
                    {"ip_prefix": "198.51.100.0/25", "region": "x", "service": "EC2"},
                    {"ip_prefix": "203.0.113.0/24", "region": "x", "service": "CLOUDFRONT"},
                ],
                "ipv6_prefixes": [{"ipv6_prefix": "2001:db8:a::/48", "service": "AMAZON"}],
            }
        )
    )
    goog = tmp_path / "goog.json"
    goog.write_text(json.dumps({"prefixes": [{"ipv4Prefix": "192.0.2.0/26"}, {"ipv6Prefix": "2001:db8:b::/48"}]}))
    azure = tmp_path / "ServiceTags_Public.json"
    azure.write_text(
        json.dumps(
            {
                "values": [
                    {"name": "AzureCloud", "properties": {"addressPrefixes": ["192.0.2.64/26", "2001:db8:c::/48"]}},
                    {"name": "AzureCloud.westeurope", "properties": {"addressPrefixes": ["192.0.2.64/27"]}},
                ]
            }
        )
    )
    m365 = tmp_path / "worldwide.json"
    m365.write_text(
        json.dumps(
            [
                {"id": 11, "serviceArea": "Skype", "ips": ["198.51.100.128/25", "2001:db8:d::/48"]},
                {"id": 1, "serviceArea": "Exchange", "ips": ["192.0.2.128/26"]},
                {"id": 2, "serviceArea": "Exchange", "urls": ["outlook.example"]},
            ]
        )
    )
    cf4 = tmp_path / "ips-v4"
    cf4.write_text("192.0.2.192/27\n\n# comment\n")
    cf6 = tmp_path / "ips-v6"
    cf6.write_text("2001:db8:e::/48\n")
    table = tmp_path / "table.txt"
    table.write_text("192.0.2.224/28 64500\n192.0.2.240/28 64501\n2001:db8:f::/48 64500\n")
    ris = tmp_path / "riswhoisdump.IPv4"
    ris.write_text("% header\n64502\t203.0.113.128/25\t200\n")
    return aws, goog, azure, m365, (cf4, cf6), table, ris


def test_build_networks_reads_each_source_and_writes_usable_rules(tmp_path, capsys):
    aws, goog, azure, m365, cf, table, ris = _samples(tmp_path)
    out = tmp_path / "networks.toml"
    rc = build_main(
        [
            "-o", str(out), "--aws", str(aws), "--google", str(goog), "--azure", str(azure),
            "--m365", str(m365), "--cloudflare", str(cf[0]), str(cf[1]),
            "--asn-table", str(table), "--asn", "64500=Example Games:gaming",
        ]
    )  # fmt: skip
    assert rc == 0
    rules = load_rules(str(out), use_default_user=False)
    hit = rules.networks.lookup

    def uc(ip):
        h = hit(_ip(ip))
        return None if h is None else (h[0].service, h[0].use_case)

    assert uc("198.51.100.1") == ("Amazon AWS", "web")
    assert uc("203.0.113.9") == ("Amazon CloudFront", "web")
    assert uc("2001:db8:a::1") == ("Amazon AWS", "web")
    assert uc("192.0.2.1") == ("Google", "web")
    assert uc("192.0.2.70") == ("Azure", "web")
    assert uc("198.51.100.200") == ("Teams/Skype", "voice")  # longer than AWS's /25? same length, other block
    assert uc("2001:db8:d::1") == ("Teams/Skype", "voice")
    assert uc("192.0.2.130") == ("Microsoft 365 Exchange", "mail")
    assert uc("192.0.2.200") == ("Cloudflare", "web")
    assert uc("2001:db8:e::1") == ("Cloudflare", "web")
    assert uc("192.0.2.230") == ("Example Games", "gaming")
    assert uc("2001:db8:f::1") == ("Example Games", "gaming")
    assert uc("192.0.2.245") is None  # AS64501 was not asked for
    text = out.read_text()
    assert text.count('"198.51.100.0/25"') == 1  # AMAZON and EC2 list it twice: written once
    # a RIPE RIS dump (ASN first) works the same
    rc = build_main(["--asn-table", str(ris), "--asn", "AS64502=Example Chat:messaging"])
    assert rc == 0
    assert '"203.0.113.128/25"' in capsys.readouterr().out


def test_build_networks_bad_input_says_which_file(tmp_path, capsys):
    bad = tmp_path / "ip-ranges.json"
    bad.write_text("{not json")
    assert build_main(["--aws", str(bad)]) == 2
    assert "ip-ranges.json" in capsys.readouterr().err
    notcidr = tmp_path / "ips-v4"
    notcidr.write_text("192.0.2.0/24\nhello\n")
    assert build_main(["--cloudflare", str(notcidr)]) == 2
    assert "ips-v4:2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_main(["--asn", "64500=X:nonsense", "--asn-table", str(notcidr)])


def test_build_networks_runs_as_a_module(tmp_path):
    cf = tmp_path / "ips-v4"
    cf.write_text("192.0.2.0/24\n")
    res = subprocess.run(
        [sys.executable, "-m", "tui.classify.build_networks", "--cloudflare", str(cf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "[[networks]]" in res.stdout and '"192.0.2.0/24"' in res.stdout

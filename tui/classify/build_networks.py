"""Build a ``[[networks]]`` rules file from address lists their owners publish.

sockscope ships only the few blocks whose owners document them for their service (see
rules.toml).  For more, download the lists yourself and turn them into a rules file:

    python -m tui.classify.build_networks -o ~/.config/sockscope/networks.toml \\
        --aws ip-ranges.json            # https://ip-ranges.amazonaws.com/ip-ranges.json
        --google goog.json              # https://www.gstatic.com/ipranges/goog.json
        --google-cloud cloud.json       # https://www.gstatic.com/ipranges/cloud.json
        --azure ServiceTags_Public.json # Microsoft "Azure IP Ranges and Service Tags - Public Cloud"
        --m365 worldwide.json           # https://endpoints.office.com/endpoints/worldwide?clientrequestid=<uuid>
        --cloudflare ips-v4 ips-v6      # https://www.cloudflare.com/ips-v4 and /ips-v6
        --asn-table table.txt --asn 62041=Telegram:messaging
                                        # bgp.tools table.txt ("prefix ASN" lines) or a RIPE RIS
                                        # riswhoisdump ("ASN<TAB>prefix<TAB>peers" lines)

Each source becomes one ``[[networks]]`` rule per service, with ``source`` naming the file
it came from.  Use it as ``--rules FILE`` or paste it into ~/.config/sockscope/rules.toml
(one user file is read; its networks are added to the built-in ones).  Overlapping blocks
are fine: the longest prefix wins at lookup.  ``--use-case SOURCE=USE_CASE`` changes the
use case a source's blocks get (defaults below: cloud hosting says nothing about use, so
it is ``web``; Microsoft 365's Skype/Teams media ``voice``, Exchange ``mail``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tui.snapshot import USE_CASES

DEFAULT_USE = {"aws": "web", "google": "web", "google-cloud": "web", "azure": "web", "cloudflare": "web"}
M365_USE = {"Skype": "voice", "Exchange": "mail", "SharePoint": "file_transfer", "Common": "web"}


class SourceError(ValueError):
    """A source file that is not what its option says; the message names the file."""


@dataclass(slots=True)
class Block:
    cidr: str
    service: str
    use_case: str
    source: str


def _net(text: object, where: str) -> str | None:
    """A canonical CIDR, or None for what is not one (comments, headers)."""
    if not isinstance(text, str):
        return None
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if net.prefixlen == 0:
        raise SourceError(f"{where}: {text} covers the whole address space")
    return str(net)


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path}: not readable JSON ({exc})") from None


def aws(path: Path, use: str) -> list[Block]:
    """AWS ip-ranges.json: prefixes[].ip_prefix and ipv6_prefixes[].ipv6_prefix, by service."""
    doc = _json(path)
    if not isinstance(doc, dict) or "prefixes" not in doc:
        raise SourceError(f"{path}: no 'prefixes' (is it AWS ip-ranges.json?)")
    out = []
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        for p in doc.get(key) or []:
            cidr = _net(p.get(field), str(path)) if isinstance(p, dict) else None
            if cidr:
                svc = p.get("service", "AMAZON")
                name = "Amazon CloudFront" if svc == "CLOUDFRONT" else "Amazon AWS"
                out.append(Block(cidr, name, use, f"{path.name} (AWS)"))
    return out


def google(path: Path, use: str, name: str) -> list[Block]:
    """goog.json / cloud.json: prefixes[].ipv4Prefix or ipv6Prefix."""
    doc = _json(path)
    if not isinstance(doc, dict) or "prefixes" not in doc:
        raise SourceError(f"{path}: no 'prefixes' (is it goog.json or cloud.json?)")
    out = []
    for p in doc["prefixes"]:
        if isinstance(p, dict):
            cidr = _net(p.get("ipv4Prefix") or p.get("ipv6Prefix"), str(path))
            if cidr:
                out.append(Block(cidr, name, use, path.name))
    return out


def azure(path: Path, use: str) -> list[Block]:
    """Azure Service Tags: values[].properties.addressPrefixes; the AzureCloud tag covers the rest."""
    doc = _json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("values"), list):
        raise SourceError(f"{path}: no 'values' (is it the Azure Service Tags JSON?)")
    out = []
    for v in doc["values"]:
        if not isinstance(v, dict) or v.get("name") != "AzureCloud":
            continue  # the regional and per-service tags are subsets of AzureCloud
        for p in (v.get("properties") or {}).get("addressPrefixes") or []:
            cidr = _net(p, str(path))
            if cidr:
                out.append(Block(cidr, "Azure", use, f"{path.name} (AzureCloud)"))
    return out


def m365(path: Path) -> list[Block]:
    """Microsoft 365 endpoints web service JSON: a list of {serviceArea, ips[]}."""
    doc = _json(path)
    if not isinstance(doc, list):
        raise SourceError(f"{path}: not a list (is it the Microsoft 365 endpoints JSON?)")
    out = []
    for e in doc:
        if not isinstance(e, dict):
            continue
        area = e.get("serviceArea", "Common")
        use = M365_USE.get(area, "web")
        name = "Teams/Skype" if area == "Skype" else f"Microsoft 365 {area}"
        for p in e.get("ips") or []:
            cidr = _net(p, str(path))
            if cidr:
                out.append(Block(cidr, name, use, f"{path.name} (id {e.get('id')}, {area})"))
    return out


def plain(paths: list[Path], name: str, use: str) -> list[Block]:
    """One CIDR a line (Cloudflare's ips-v4 / ips-v6); blank lines and '#' comments skipped."""
    out = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: not readable ({exc})") from None
        for no, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            cidr = _net(line, f"{path}:{no}")
            if cidr is None:
                raise SourceError(f"{path}:{no}: not a CIDR: {line[:60]!r}")
            out.append(Block(cidr, name, use, path.name))
    return out


def asn_table(path: Path, wanted: dict[int, tuple[str, str]]) -> list[Block]:
    """Prefixes originated by the wanted ASNs, from 'prefix ASN' (bgp.tools) or 'ASN prefix ...' (RIS) lines."""
    out = []
    try:
        fh = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SourceError(f"{path}: not readable ({exc})") from None
    with fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2 or line.startswith(("#", "%")):
                continue
            a, b = parts[0], parts[1]
            if "/" in a and b.isdigit():
                prefix, asn = a, int(b)
            elif "/" in b and a.isdigit():
                prefix, asn = b, int(a)
            else:
                continue
            hit = wanted.get(asn)
            if hit is None:
                continue
            cidr = _net(prefix, str(path))
            if cidr:
                out.append(Block(cidr, hit[0], hit[1], f"{path.name} (AS{asn})"))
    return out


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def render(blocks: list[Block]) -> str:
    """The rules file: one [[networks]] rule per (service, use case, source), blocks sorted and deduplicated."""
    groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for b in blocks:
        groups[(b.service, b.use_case, b.source)].add(b.cidr)
    out = ["# Made by python -m tui.classify.build_networks from lists their owners publish.", ""]
    for (service, use, source), cidrs in sorted(groups.items()):
        nets = sorted(cidrs, key=lambda c: (ipaddress.ip_network(c).version, ipaddress.ip_network(c)))
        out.append("[[networks]]")
        out.append(f"service = {_toml_str(service)}")
        out.append(f"use_case = {_toml_str(use)}")
        out.append(f"source = {_toml_str(source)}")
        out.append("cidrs = [")
        out.extend(f"  {_toml_str(c)}," for c in nets)
        out.append("]")
        out.append("")
    return "\n".join(out)


def _asn_arg(text: str) -> tuple[int, tuple[str, str]]:
    try:
        asn, rest = text.split("=", 1)
        service, use = rest.rsplit(":", 1)
        asn_n = int(asn.upper().removeprefix("AS"))
    except ValueError:
        msg = f"{text!r}: expected ASN=Service:use_case, e.g. 62041=Telegram:messaging"
        raise argparse.ArgumentTypeError(msg) from None
    if use not in USE_CASES:
        raise argparse.ArgumentTypeError(f"{text!r}: use case must be one of {', '.join(USE_CASES)}")
    return asn_n, (service, use)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tui.classify.build_networks", description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, help="rules file to write (default: standard output)")
    ap.add_argument("--aws", type=Path)
    ap.add_argument("--google", type=Path)
    ap.add_argument("--google-cloud", type=Path)
    ap.add_argument("--azure", type=Path)
    ap.add_argument("--m365", type=Path)
    ap.add_argument("--cloudflare", type=Path, nargs="+")
    ap.add_argument("--asn-table", type=Path)
    ap.add_argument("--asn", type=_asn_arg, action="append", default=[], help="ASN=Service:use_case (repeatable)")
    ap.add_argument("--use-case", action="append", default=[], help="SOURCE=USE_CASE, e.g. cloudflare=web")
    args = ap.parse_args(argv)
    use = dict(DEFAULT_USE)
    for item in args.use_case:
        key, _, uc = item.partition("=")
        if key not in DEFAULT_USE or uc not in USE_CASES:
            ap.error(
                f"--use-case {item!r}: SOURCE one of {', '.join(DEFAULT_USE)}, USE_CASE one of {', '.join(USE_CASES)}"
            )
        use[key] = uc
    if args.asn and not args.asn_table:
        ap.error("--asn needs --asn-table (the prefix dump to read)")
    blocks: list[Block] = []
    try:
        if args.aws:
            blocks += aws(args.aws, use["aws"])
        if args.google:
            blocks += google(args.google, use["google"], "Google")
        if args.google_cloud:
            blocks += google(args.google_cloud, use["google-cloud"], "Google Cloud")
        if args.azure:
            blocks += azure(args.azure, use["azure"])
        if args.m365:
            blocks += m365(args.m365)
        if args.cloudflare:
            blocks += plain(args.cloudflare, "Cloudflare", use["cloudflare"])
        if args.asn_table:
            blocks += asn_table(args.asn_table, dict(args.asn))
    except SourceError as exc:
        print(f"build_networks: {exc}", file=sys.stderr)
        return 2
    if not blocks:
        ap.error("no blocks: give at least one source (--aws, --google, --cloudflare, --asn-table with --asn, ...)")
    text = render(blocks)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(blocks)} blocks written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

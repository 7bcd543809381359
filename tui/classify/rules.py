"""Classification rules: read from TOML (built-in file plus the user's), validated, turned into lookup tables.

The knowledge (which port, name or byte pattern means which application and use case)
lives in ``rules.toml`` next to this module; this module only checks it and builds
dicts the classifier can consult in O(1).  A user file uses the same format; its rules
are applied on top of the built-in ones (same port, same pattern or same signature:
the user's wins; new ones are added).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tui.classify.networks import NetworkTable
from tui.snapshot import USE_CASES

BUILTIN = Path(__file__).with_name("rules.toml")
USER_DEFAULT = Path("~/.config/sockscope/rules.toml")

TRANSPORTS = ("tcp", "udp", "sctp")
SECTIONS = ("signatures", "protocols", "ports", "names", "payloads", "networks", "agents")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Rule:
    """What a match means: application protocol, use case, and the words for ``reason``."""

    app: str | None
    use_case: str
    reason: str
    service: str | None = None


@dataclass(frozen=True, slots=True)
class PayloadRule:
    """Bytes at a fixed offset of the first payloads (a game's query, a chat protocol's magic)."""

    transport: str  # "tcp", "udp" or "any"
    offset: int
    prefix: bytes
    ports: frozenset[int]  # empty: any port
    rule: Rule


@dataclass(slots=True)
class Rules:
    """Lookup tables built from one or more rules files."""

    signatures: dict[str, Rule] = field(default_factory=dict)
    protocols: dict[str, Rule] = field(default_factory=dict)
    ports: dict[tuple[str, int], Rule] = field(default_factory=dict)
    exact: dict[str, tuple[Rule, str]] = field(default_factory=dict)
    suffix: dict[str, tuple[Rule, str]] = field(default_factory=dict)
    prefix: dict[str, tuple[Rule, str]] = field(default_factory=dict)
    # (literal tail after the last "*", regex, rule, pattern): the tail is compared first, so
    # a name runs only the regexes of globs it could match
    globs: list[tuple[str, re.Pattern[str], Rule, str]] = field(default_factory=list)
    payloads: list[PayloadRule] = field(default_factory=list)
    # payload rules indexed by their first byte (offset 0), the rest in ``payload_any``
    payload_index: dict[int, list[PayloadRule]] = field(default_factory=dict)
    payload_any: list[PayloadRule] = field(default_factory=list)
    # CIDR -> (rule, "network <cidr>"), longest prefix wins
    networks: NetworkTable = field(default_factory=NetworkTable)
    # HTTP User-Agent prefixes (lower case) -> rule, later files first
    agents: list[tuple[str, Rule]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def match_name(self, name: str) -> tuple[Rule, str] | None:
        """The most specific name rule for a host name: exact, longest suffix, first label, glob."""
        hit = self.exact.get(name)
        if hit is not None:
            return hit
        suffix = self.suffix
        i = -1
        while True:
            hit = suffix.get(name[i + 1 :])
            if hit is not None:
                return hit
            i = name.find(".", i + 1)
            if i < 0:
                break
        dot = name.find(".")
        if dot > 0:
            hit = self.prefix.get(name[:dot])
            if hit is not None:
                return hit
        for tail, rx, rule, pattern in self.globs:
            if name.endswith(tail) and rx.fullmatch(name):
                return rule, pattern
        return None

    def port(self, transport: str, a: int, b: int) -> tuple[Rule, int] | None:
        """The port rule for a flow between ports a and b: the lower port first (the likelier service)."""
        ports = self.ports
        lo, hi = (a, b) if a <= b else (b, a)
        r = ports.get((transport, lo))
        if r is not None:
            return r, lo
        r = ports.get((transport, hi))
        if r is not None:
            return r, hi
        return None


def _line_of(text: str, section: str, index: int, key: str | None = None) -> int:
    """Best-effort line number of the ``index``-th ``[[section]]`` (or ``[section]`` key) in ``text``."""
    lines = text.splitlines()
    if section in ("signatures", "protocols") and key is not None:
        inside = False
        for no, line in enumerate(lines, 1):
            s = line.strip()
            if s.startswith("["):
                inside = s == f"[{section}]" or s == f"[{section}.{key}]"
                if s == f"[{section}.{key}]":
                    return no
                continue
            if inside and re.match(rf'^"?{re.escape(key)}"?\s*=', s):
                return no
        return 0
    seen = -1
    header = re.compile(rf"^\s*\[\[\s*{re.escape(section)}\s*\]\]")
    for no, line in enumerate(lines, 1):
        if header.match(line):
            seen += 1
            if seen == index:
                return no
    return 0


class _Checker:
    """Field validation with errors that say file and line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        # (transport, port) named one by one in this file: a range in the same file never
        # overrides them (a game's "5062-5500" must not swallow mDNS's 5353).
        self.single_ports: set[tuple[str, int]] = set()

    def fail(self, section: str, index: int, msg: str, key: str | None = None) -> RulesError:
        line = _line_of(self.text, section, index, key)
        where = f"{self.path}: line {line}" if line else self.path
        return RulesError(f"rules file {where}: {msg}")

    def rule(self, section: str, index: int, entry: object, default_reason: str, key: str | None = None) -> Rule:
        if not isinstance(entry, dict):
            raise self.fail(section, index, f"[{section}] entries must be tables", key)
        unknown = set(entry) - _ALLOWED[section]
        if unknown:
            raise self.fail(section, index, f"unknown field(s) {', '.join(sorted(unknown))} in [{section}]", key)
        uc = entry.get("use_case")
        if uc not in USE_CASES:
            raise self.fail(section, index, f"use_case must be one of {', '.join(USE_CASES)} (got {uc!r})", key)
        app = entry.get("app")
        if app is not None and (not isinstance(app, str) or not app or len(app) > 40):
            raise self.fail(section, index, "app must be a short non-empty string", key)
        service = entry.get("service")
        if service is not None and (not isinstance(service, str) or len(service) > 40):
            raise self.fail(section, index, "service must be a short string", key)
        return Rule(app, uc, default_reason, service)


_COMMON = {"app", "use_case", "service"}
_ALLOWED = {
    "signatures": _COMMON,
    "protocols": _COMMON,
    "ports": _COMMON | {"tcp", "udp", "sctp"},
    "names": _COMMON | {"patterns"},
    "payloads": _COMMON | {"transport", "offset", "text", "hex", "ports", "label"},
    "networks": _COMMON | {"cidrs", "source"},
    "agents": _COMMON | {"prefixes", "label"},
}

_NAME_OK = re.compile(r"^[a-z0-9*_.\-]+$")


def _ports(chk: _Checker, section: str, index: int, spec: object) -> list[tuple[int, bool]]:
    """The ports of a rule, each with whether it was named alone (True) or came from a range."""
    if not isinstance(spec, list):
        raise chk.fail(section, index, "ports must be a list of numbers or 'low-high' ranges")
    out: list[tuple[int, bool]] = []
    for item in spec:
        if isinstance(item, bool):
            raise chk.fail(section, index, f"bad port {item!r}")
        if isinstance(item, int):
            lo = hi = item
        elif isinstance(item, str) and re.fullmatch(r"\d{1,5}-\d{1,5}", item):
            lo, hi = (int(x) for x in item.split("-"))
        else:
            raise chk.fail(section, index, f"bad port {item!r} (a number or 'low-high')")
        if not 0 < lo <= hi <= 65535:
            raise chk.fail(section, index, f"port out of range: {item!r}")
        out.extend((p, lo == hi) for p in range(lo, hi + 1))
    return out


def parse_rules(text: str, path: str, into: Rules) -> None:
    """Validate one rules file and add its rules to ``into`` (later files override earlier ones)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {path}: {exc}") from None
    chk = _Checker(path, text)
    for key in doc:
        if key not in SECTIONS:
            raise RulesError(f"rules file {path}: unknown section [{key}] (expected {', '.join(SECTIONS)})")

    for section in ("signatures", "protocols"):
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise RulesError(f"rules file {path}: [{section}] must be a table")
        for name, entry in table.items():
            reason = name if section == "signatures" else f"protocol {name}"
            rule = chk.rule(section, 0, entry, reason, key=name)
            getattr(into, section)[name] = rule

    for section in ("ports", "names", "payloads", "networks", "agents"):
        items = doc.get(section, [])
        if not isinstance(items, list):
            raise RulesError(f"rules file {path}: use [[{section}]] for {section} rules")
        for i, entry in enumerate(items):
            base = chk.rule(section, i, entry, "")
            if section == "ports":
                _add_ports(chk, i, entry, base, into)
            elif section == "names":
                _add_names(chk, i, entry, base, into)
            elif section == "networks":
                _add_networks(chk, i, entry, base, into)
            elif section == "agents":
                _add_agents(chk, i, entry, base, into)
            else:
                _add_payload(chk, i, entry, base, into)
    into.sources.append(path)


def _add_ports(chk: _Checker, i: int, entry: dict, base: Rule, into: Rules) -> None:
    if not any(t in entry for t in TRANSPORTS):
        raise chk.fail("ports", i, "a [[ports]] rule needs tcp = [...], udp = [...] or sctp = [...]")
    for t in TRANSPORTS:
        if t in entry:
            for p, single in _ports(chk, "ports", i, entry[t]):
                key = (t.upper(), p)
                if single:
                    chk.single_ports.add(key)
                elif key in chk.single_ports:
                    continue
                into.ports[key] = Rule(base.app, base.use_case, f"port {p}/{t}", base.service)


def _add_names(chk: _Checker, i: int, entry: dict, base: Rule, into: Rules) -> None:
    pats = entry.get("patterns")
    if not isinstance(pats, list) or not pats:
        raise chk.fail("names", i, "a [[names]] rule needs patterns = ['*.example.com', ...]")
    for pat in pats:
        if not isinstance(pat, str) or not _NAME_OK.match(pat.lower()) or len(pat) > 253:
            raise chk.fail("names", i, f"bad name pattern {pat!r} (letters, digits, '.', '-', '*')")
        pat = pat.lower()
        hit = (base, pat)
        if "*" not in pat:
            into.exact[pat] = hit
        elif pat.startswith("*.") and "*" not in pat[2:]:
            into.suffix[pat[2:]] = hit
        elif pat.endswith(".*") and "*" not in pat[:-2] and "." not in pat[:-2]:
            into.prefix[pat[:-2]] = hit
        else:
            rx = re.compile(re.escape(pat).replace(r"\*", "[a-z0-9_.\\-]*"))
            into.globs = [g for g in into.globs if g[3] != pat]
            into.globs.insert(0, (pat.rsplit("*", 1)[1], rx, base, pat))


def _add_networks(chk: _Checker, i: int, entry: dict, base: Rule, into: Rules) -> None:
    cidrs = entry.get("cidrs")
    if not isinstance(cidrs, list) or not cidrs:
        raise chk.fail("networks", i, "a [[networks]] rule needs cidrs = ['192.0.2.0/24', '2001:db8::/32', ...]")
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise chk.fail("networks", i, "source must be a string (where the blocks were published)")
    for cidr in cidrs:
        if not isinstance(cidr, str):
            raise chk.fail("networks", i, f"bad network {cidr!r} (a CIDR string)")
        try:
            into.networks.add(cidr, (base, f"network {cidr}"))
        except ValueError as exc:
            raise chk.fail("networks", i, f"bad network {cidr!r}: {exc}") from None


def _add_agents(chk: _Checker, i: int, entry: dict, base: Rule, into: Rules) -> None:
    prefixes = entry.get("prefixes")
    if not isinstance(prefixes, list) or not prefixes or not all(isinstance(p, str) and p for p in prefixes):
        raise chk.fail("agents", i, "an [[agents]] rule needs prefixes = ['Client/', ...] (User-Agent beginnings)")
    label = entry.get("label", base.app or "agent")
    if not isinstance(label, str):
        raise chk.fail("agents", i, "label must be a string")
    rule = Rule(base.app, base.use_case, f"http user-agent {label}", base.service)
    into.agents[:0] = [(p.lower(), rule) for p in prefixes]  # the later file's rules are tried first


def _add_payload(chk: _Checker, i: int, entry: dict, base: Rule, into: Rules) -> None:
    transport = entry.get("transport", "any")
    if transport not in (*TRANSPORTS, "any"):
        raise chk.fail("payloads", i, "transport must be tcp, udp, sctp or any")
    offset = entry.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 1500:
        raise chk.fail("payloads", i, "offset must be a number from 0 to 1500")
    prefixes: list[bytes] = []
    texts = entry.get("text", [])
    hexes = entry.get("hex", [])
    for value in texts if isinstance(texts, list) else [texts]:
        if not isinstance(value, str) or not value:
            raise chk.fail("payloads", i, "text must be a non-empty string (or a list of them)")
        try:
            prefixes.append(value.encode("latin-1"))
        except UnicodeEncodeError:
            raise chk.fail("payloads", i, f"text {value!r} has characters beyond \\u00ff") from None
    for value in hexes if isinstance(hexes, list) else [hexes]:
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            raw = b""
        if not raw:
            raise chk.fail("payloads", i, f"hex must be pairs of hex digits (got {value!r})")
        prefixes.append(raw)
    if not prefixes:
        raise chk.fail("payloads", i, "a [[payloads]] rule needs text = '...' or hex = '...'")
    ports = (
        frozenset(p for p, _single in _ports(chk, "payloads", i, entry["ports"])) if "ports" in entry else frozenset()
    )
    label = entry.get("label", base.app or "payload")
    if not isinstance(label, str):
        raise chk.fail("payloads", i, "label must be a string")
    rule = Rule(base.app, base.use_case, f"payload {label}", base.service)
    for pre in prefixes:
        into.payloads.append(PayloadRule(transport.upper(), offset, pre, ports, rule))


def index_payloads(rules: Rules) -> None:
    """Group payload rules by first byte so a packet is compared with a handful, not all.

    Later rules (the user's) come first, so they win over built-in ones.
    """
    rules.payload_index = {}
    rules.payload_any = []
    for pr in reversed(rules.payloads):
        if pr.offset == 0:
            rules.payload_index.setdefault(pr.prefix[0], []).append(pr)
        else:
            rules.payload_any.append(pr)


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file we may look at; an unreadable home (sudo -u, a dropped root
    keeping HOME=/root) counts as no file rather than a crash."""
    try:
        return path.is_file()
    except OSError:
        return False


def load_rules(user_path: str | None = None, use_default_user: bool = True) -> Rules:
    """Built-in rules, then the user's file (``--rules FILE``, else ~/.config/sockscope/rules.toml if present)."""
    rules = Rules()
    parse_rules(BUILTIN.read_text(encoding="utf-8"), str(BUILTIN), rules)
    path: Path | None = None
    if user_path:
        path = Path(user_path).expanduser()
        if not _is_file(path):
            raise RulesError(f"rules file {user_path}: not found (or not readable)")
    elif use_default_user:
        candidate = USER_DEFAULT.expanduser()
        path = candidate if _is_file(candidate) else None
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"rules file {path}: cannot read: {exc}") from None
        parse_rules(text, str(path), rules)
    index_payloads(rules)
    return rules

"""Payload rules of rules.toml (``[[payloads]]``): byte prefixes at an offset, by transport and port.

Tables built once per transport, keyed by the first byte (offset 0) or by the offset and the
byte there, so a packet costs a dict lookup, not a scan of every rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.classify.rules import PayloadRule

if TYPE_CHECKING:
    from tui.classify.classifier import FlowState


class PayloadRules:
    """Payload-rule matching of the Classifier (a mixin over its rules and table cache)."""

    def _payload_rules(self, flow, st: FlowState, pl: bytes, transport: str) -> bool:
        tables = self._payload_tables.get(transport)
        if tables is None:
            tables = self._payload_table(transport)
        first, later = tables
        cands = first.get(pl[0])
        if cands is not None and self._try_payloads(flow, st, pl, cands):
            return True
        if not later:
            return False
        n = len(pl)
        hits: tuple | None = None
        for off, by_byte in later:  # rules at an offset: only those whose first byte is there
            if off < n:
                more = by_byte.get(pl[off])
                if more is not None:
                    hits = more if hits is None else tuple(sorted(hits + more, key=_position))
        return hits is not None and self._try_payloads(flow, st, pl, hits)

    def _try_payloads(self, flow, st: FlowState, pl: bytes, cands: tuple) -> bool:
        for _pos, pr in cands:
            if pr.ports and flow.sport not in pr.ports and flow.dport not in pr.ports:
                continue
            if pl.startswith(pr.prefix, pr.offset):
                st.sig = pr.rule
                st.sig_detail = ""
                flow.decided = True
                return True
        return False

    def _payload_table(self, transport: str) -> tuple[dict, tuple]:
        """The payload rules for ``transport``: by first byte (offset 0), and by offset and the byte there.

        Candidates keep the order the rules index gives them (offset-0 rules first, then the
        others in their order), so the first match is the one a scan of every rule finds.
        """
        rules = self.rules
        first: dict[int, tuple] = {}
        for b, group in rules.payload_index.items():
            fits = tuple((i, pr) for i, pr in enumerate(group) if pr.transport in ("ANY", transport))
            if fits:
                first[b] = fits
        by_off: dict[int, dict[int, list]] = {}
        for i, pr in enumerate(rules.payload_any):
            if pr.transport in ("ANY", transport):
                by_off.setdefault(pr.offset, {}).setdefault(pr.prefix[0], []).append((i, pr))
        later = tuple((off, {b: tuple(c) for b, c in d.items()}) for off, d in sorted(by_off.items()))
        self._payload_tables[transport] = (first, later)
        return first, later


def _position(cand: tuple[int, PayloadRule]) -> int:
    return cand[0]

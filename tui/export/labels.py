"""Bounded label values: the first N values of a label get their own series, the rest ``other``.

Prometheus keeps one time series per label combination, so an unbounded label (apps
learned from the wire, container names) would grow a server without limit.  A value
keeps the slot it got for the life of the exporter (a series never moves), and within
one tick newcomers are admitted largest first, so the busy values of a host take the
slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OTHER = "other"
NONE = "none"  # the flow has no value for this label (no app named, no container)


@dataclass(slots=True)
class LabelBound:
    """One label's admitted values (at most ``limit``), everything else is ``other``."""

    limit: int
    admitted: set[str] = field(default_factory=set)
    folded: int = 0  # distinct values seen that went to ``other`` (bounded count, not the values)
    _folded_seen: set[str] = field(default_factory=set)

    def value(self, raw: str | None) -> str:
        """The label value for ``raw`` (None is ``none``, which never takes a slot)."""
        if raw is None or raw == "":
            return NONE
        if raw in self.admitted:
            return raw
        if len(self.admitted) < self.limit:
            self.admitted.add(raw)
            return raw
        if len(self._folded_seen) < 10_000 and raw not in self._folded_seen:
            self._folded_seen.add(raw)
            self.folded += 1
        return OTHER

"""Classification of flows (placeholder until the classification issue lands)."""

from __future__ import annotations


def load_classifier(rules_path: str | None = None):
    """No classifier yet: every flow stays `unknown`."""
    return None

"""Classification of flows by application protocol and use case (see classifier.py, rules.toml)."""

from __future__ import annotations

from tui.classify.classifier import Classifier
from tui.classify.rules import RulesError, load_rules

__all__ = ["Classifier", "RulesError", "load_classifier", "load_rules"]


def load_classifier(rules_path: str | None = None, use_default_user: bool = True) -> Classifier:
    """A classifier with the built-in rules plus the user's (``rules_path``, else ~/.config/sockscope/rules.toml).

    Raises RulesError (a ValueError) with file and line when a rules file is unusable.
    """
    return Classifier(load_rules(rules_path, use_default_user))

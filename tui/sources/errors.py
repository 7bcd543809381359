"""The one error a capture source raises for the user to read.

Its own module so that sources (tui.sources.*) and the engine both depend on it, and
neither has to import the other for it.
"""

from __future__ import annotations


class SourceError(Exception):
    """A source failed in a way the user should read (privilege, interface gone, bad file)."""

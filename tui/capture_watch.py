"""Watching a capture for the faults a user must hear about: an interface removed (and
re-added), a capture that failed, a capture thread that died without a word.

The app polls ``CaptureWatch.check`` about once a second; it reads only plain attributes
of the engine (state, message, source kind and name, whether its thread lives), never
its locked state, and returns at most one ``Notice`` per change, so the user is told
once, not on every tick.  No Textual here: the app turns a Notice into a notification.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from tui.engine import Engine


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell the user, and whether `r` (restart/resume) now does something."""

    text: str
    severity: str  # "information", "warning" or "error"
    can_restart: bool


def interface_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


class CaptureWatch:
    """Turns engine state changes into notices; one instance per app."""

    def __init__(self) -> None:
        self._seen: tuple[int, str] | None = None  # (engine id, state) last reported
        self._gone: str | None = None  # live interface removed under us, waiting for its return
        self.restartable = False

    def check(self, engine: Engine | None) -> Notice | None:
        if engine is None:
            return None
        state = engine.state
        if state == "running" and not engine.running and engine.source_kind != "none":
            state = "died"  # the thread ended without saying why (it always should)
        key = (id(engine), state)
        if key == self._seen:
            return self._returned(engine)
        self._seen = key
        live = engine.source_kind == "live"
        name = engine.source_name
        if state == "running":
            self._gone = None
            self.restartable = False
            return None
        if state == "ended" and live and "removed" in (engine.message or ""):
            self._gone = name
            self.restartable = False
            return Notice(
                f"Interface {name} is gone; the data captured so far is kept. "
                "Press i to pick another interface (or wait: if it comes back, r resumes).",
                "warning",
                False,
            )
        if state == "error":
            self.restartable = True
            return Notice(
                f"Capture stopped: {engine.message}. The data so far is kept; press r to restart the capture.",
                "error",
                True,
            )
        if state == "died":
            self.restartable = True
            return Notice(
                "The capture thread stopped unexpectedly. The data so far is kept; press r to restart it.",
                "error",
                True,
            )
        return None

    def _returned(self, engine: Engine) -> Notice | None:
        """The removed interface exists again (same name): offer to resume once."""
        if self._gone is None or not interface_exists(self._gone):
            return None
        name, self._gone = self._gone, None
        self.restartable = True
        return Notice(f"Interface {name} is back: press r to resume capturing on it.", "information", True)

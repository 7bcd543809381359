"""Helpers for the UI tests: options as the command line makes them, replayed engines, screen text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEMO = REPO / "tui" / "data" / "demo.pcapng"


def options(*argv: str) -> argparse.Namespace:
    """The Namespace `sockscope ARGV` would hand to run_app."""
    from tui.cli import build_parser

    return build_parser().parse_args(list(argv))


def replayed(path: Path | str, *extra: str):
    """(args, engine) with the whole file already replayed: the monitor shows a fixed state."""
    from tui.capture_setup import build_engine, open_source

    args = options("-r", str(path), *extra)
    engine = build_engine(args, live=False)
    engine.run(open_source(args, default_speed=None), bpf=args.filter)
    return args, engine


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()  # Textual's own composed lines
    return "\n".join(strip.text for strip in strips)


async def settle(pilot, rounds: int = 3) -> None:
    """Let timers and refreshes run (file replay: the process is idle quickly)."""
    for _ in range(rounds):
        await pilot.pause(0.05)


def ui_test(fn):
    """Run an async test function to completion (no asyncio plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper

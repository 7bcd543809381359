"""Write screenshots/*.svg: the picker, the monitor on the demo capture, and a packet's detail.

Same deterministic input as the snapshot tests (the demo replayed to its end, a fixed list
of links for the picker), at 120x40 and 80x24.

    .venv/bin/python tests/make_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from test_ui_snapshots import LINKS, NAMESPACES, namespaces_listed  # noqa: E402
from ui_support import DEMO, options, replayed  # noqa: E402

from tui.app import SockscopeApp  # noqa: E402

SHOTS = [
    # (file name, which app, keys pressed first, size)
    ("picker", "picker", (), (120, 40)),
    ("monitor", "demo", (), (120, 40)),
    ("monitor-80x24", "demo", (), (80, 24)),
    ("packet-detail", "demo", ("5", "down", "down", "enter"), (120, 40)),
    ("flow-detail", "demo", ("enter",), (120, 40)),
]


async def shoot(kind: str, keys: tuple[str, ...], size: tuple[int, int]) -> str:
    if kind == "picker":
        app = SockscopeApp(options(), watch_links=False, links=lambda: list(LINKS), namespaces=lambda: list(NAMESPACES))
    else:
        args, engine = replayed(DEMO)
        app = SockscopeApp(args, engine=engine, watch_links=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.1)
        if kind == "picker":
            await namespaces_listed(pilot)
        if keys:
            await pilot.press(*keys)
        await pilot.pause(0.2)
        return app.export_screenshot(title="sockscope")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else HERE.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for name, kind, keys, size in SHOTS:
        svg = asyncio.run(shoot(kind, keys, size))
        (out / f"{name}.svg").write_text(svg)
        print(f"wrote {out / name}.svg ({size[0]}x{size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

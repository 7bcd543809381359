"""The monitor header: aligned label/value pairs at every width, and no text run that
starts with a space (SVG renderers drop such spaces, which glued labels to values)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from rich.console import Console
from ui_support import DEMO, replayed

from tui.widgets.header import HeaderPanel

LABELS = ("elapsed", "in", "out", "total", "flows", "drops", "malformed")


@pytest.fixture(scope="module")
def snap():
    _, engine = replayed(DEMO)
    return engine.snapshot(top=0)


def _runs(text) -> list[tuple[str, object]]:
    """The text runs an SVG export makes: adjacent segments of one style joined."""
    segments = list(text.render(Console(width=400, color_system="truecolor")))
    runs = []
    for style, group in itertools.groupby(segments, key=lambda s: s.style):
        runs.append(("".join(s.text for s in group), style))
    return runs


def _col(line: str, word: str) -> int:
    i = line.find(f"{word} ")
    assert i >= 0, f"{word!r} not followed by a space in {line!r}"
    return i


@pytest.mark.parametrize("width", [78, 98, 118, 178])
def test_every_label_has_its_value_apart_and_no_run_starts_with_a_space(snap, width):
    header = HeaderPanel()
    text = header.render_text(snap, width)
    lines = text.plain.split("\n")
    assert all(len(line) <= width for line in lines)
    for label in LABELS:
        assert any(f"{label} " in line for line in lines), (label, lines)
    for body, _style in _runs(text):
        for line in body.split("\n"):
            if line.strip():
                assert not line.startswith(" "), f"a run starts with a space: {line!r} ({width} columns)"
    assert "demo.pcapng" in lines[0] and "ENDED" in lines[0]


def test_wide_layout_stacks_in_over_out_and_aligns_the_columns(snap):
    lines = HeaderPanel().render_text(snap, 118).plain.split("\n")
    assert len(lines) == 2
    top, bottom = lines
    assert _col(top, "in") == _col(bottom, "out")
    assert _col(top, "elapsed") == _col(bottom, "flows")
    assert _col(top, "drops") == _col(bottom, "malformed")
    assert top.index("p/s") == bottom.index("p/s")  # the rates end in one column
    assert "file demo.pcapng" in top and bottom.startswith("total ")


def test_compact_layout_has_three_aligned_rows(snap):
    lines = HeaderPanel().render_text(snap, 78).plain.split("\n")
    assert len(lines) == 3
    assert lines[1].startswith("in ") and lines[2].startswith("out ")
    assert lines[1].index("p/s") == lines[2].index("p/s")
    assert _col(lines[0], "elapsed") == _col(lines[1], "total") == _col(lines[2], "flows")
    assert _col(lines[0], "drops") == _col(lines[1], "malformed")


def test_filters_and_pause_go_beside_when_they_fit_else_below(snap):
    header = HeaderPanel()
    header.paused = True
    header.display_filter = "dns"
    wide = header.render_text(snap, 178).plain.split("\n")
    assert len(wide) == 2 and "PAUSED" in wide[0] and "show dns" in wide[0]
    narrow = header.render_text(snap, 78).plain.split("\n")
    assert len(narrow) == 4 and "PAUSED" in narrow[3] and "show dns" in narrow[3]


def test_hostile_names_filters_and_messages_stay_inert(snap):
    evil = "[bold red]x[/]\x1b[2J\u202eevil"
    s = dataclasses.replace(snap, source_name=evil, bpf="[link=x]y", message=evil, state="error")
    header = HeaderPanel()
    header.display_filter = "[blink]z"
    text = header.render_text(s, 178)
    plain = text.plain
    assert "\x1b" not in plain and "\u202e" not in plain
    assert "[bold red]x[/]" in plain and "[link=x]y" in plain and "[blink]z" in plain  # shown, never parsed
    assert not any(span.style and "blink" in str(span.style) for span in text.spans)

"""Strings from the wire become plain, visible text: no markup, no escapes, no reordering."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from tui.textsafe import safe_str, safe_text


def test_markup_stays_literal():
    t = safe_text("[bold red]boom[/]")
    assert isinstance(t, Text)
    assert t.plain == "[bold red]boom[/]"
    console = Console(width=80, record=True, color_system=None)
    console.print(t)
    assert "[bold red]boom[/]" in console.export_text()


def test_control_and_escape_characters_are_made_visible():
    s = safe_str("a\x1b[31mred\x07\r\n\x00\x7f\x9b")
    assert "\x1b" not in s and "\x07" not in s and "\x00" not in s and "\x9b" not in s
    assert s == "a\\e[31mred\\x07\\r\\n\\x00\\x7f\\x9b"


def test_bidi_overrides_and_invisible_characters_are_shown():
    s = safe_str("evil\u202etxt.exe\u200b\u2066")
    assert s == "evil\\u202etxt.exe\\u200b\\u2066"


def test_invalid_utf8_bytes_become_hex_escapes():
    assert safe_str(b"host-\xff\xfe.example") == "host-\\xff\\xfe.example"
    assert safe_str(b"caf\xc3\xa9") == "café"  # valid UTF-8 stays readable


def test_limit_cuts_with_an_ellipsis():
    assert safe_str("x" * 50, limit=10) == "x" * 9 + "…"
    assert safe_str(None) == ""

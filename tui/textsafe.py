"""Making strings from the wire safe to show.

Hosts, names, banners and payloads come from the network and may carry terminal escapes,
control characters, bidirectional overrides (which reorder what a reader sees) or Rich
markup. Everything here returns plain text with those made visible as escapes, and
``safe_text`` wraps it in ``rich.text.Text`` so no markup is ever parsed.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Characters that change how surrounding text is shown rather than being shown themselves.
_BIDI_AND_INVISIBLE = frozenset(
    [0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x2060, 0xFEFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)


def _escape_char(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x20 or cp == 0x7F:
        return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x1B: "\\e"}.get(cp, f"\\x{cp:02x}")
    if 0x80 <= cp < 0xA0:
        return f"\\x{cp:02x}"
    if cp in _BIDI_AND_INVISIBLE:
        return f"\\u{cp:04x}"
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"
    return ch


def _needs_escape(s: str) -> bool:
    for ch in s:
        cp = ord(ch)
        if cp < 0x20 or 0x7F <= cp < 0xA0:
            return True
        if cp > 0xFF and (cp in _BIDI_AND_INVISIBLE or (unicodedata.category(ch)[0] in "CZ" and ch != "\u3000")):
            return True
    return False


def safe_str(value: str | bytes | None, limit: int | None = None) -> str:
    """``value`` as printable text: bytes decoded (invalid UTF-8 as \\xNN), controls escaped.

    A backslash stays a backslash; the escapes are for a person to read, not to be undone.
    ``limit`` cuts the result to that many characters with an ellipsis.
    """
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    elif not isinstance(value, str):
        value = str(value)
    if _needs_escape(value):
        value = "".join(_escape_char(ch) for ch in value)
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value


def safe_text(value: str | bytes | None, style: str = "", limit: int | None = None) -> Text:
    """A ``rich.text.Text`` of ``safe_str(value)``: never parsed as markup."""
    return Text(safe_str(value, limit), style=style, no_wrap=True, overflow="ellipsis")

"""Wrapping text that mixes Chinese and English for a terminal.

``textwrap`` breaks only at spaces and counts every character as one column; Chinese has no spaces and each
character takes two columns, so a Chinese help text would run past the edge and break at the one space
before an English word. :func:`wrap` counts display columns, may break between any two Chinese characters or
at a space, never inside an English word, and keeps closing punctuation（，。）with the text before it and
opening punctuation with the text after it. Text without Chinese wraps exactly as ``textwrap`` wraps it.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

_NO_LINE_START = frozenset("，。、；：？！）》」』】”’,.;:?!)]}")
_NO_LINE_END = frozenset("（《「『【“‘([{")
_UNITS = re.compile(r"\s+|[^\s\u1100-\uffff]+|[\u1100-\uffff]")


def wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: two for a wide (Chinese, full-width) character, one otherwise."""
    return sum(2 if wide(c) else 1 for c in text)


def _units(text: str) -> list[str]:
    """Pieces a line may not break inside: an English word, one Chinese character, or a run of spaces; closing
    punctuation joins the piece before it and opening punctuation the piece after it."""
    units: list[str] = []
    carry = ""
    for piece in _UNITS.findall(text):
        if piece.isspace():
            if carry:
                units.append(carry)
                carry = ""
            units.append(" ")
        elif piece in _NO_LINE_END:
            carry += piece
        elif piece in _NO_LINE_START and units and not units[-1].isspace() and not carry:
            units[-1] += piece
        else:
            units.append(carry + piece)
            carry = ""
    if carry:
        units.append(carry)
    return units


def wrap(text: str, width: int) -> list[str]:
    """``text`` (its whitespace runs already meaning one space) as lines at most ``width`` columns wide, except
    a single word longer than that."""
    if not any(wide(c) for c in text):
        return textwrap.wrap(text, width)
    lines: list[str] = []
    line, used, space = "", 0, False
    for unit in _units(text.strip()):
        if unit == " ":
            space = bool(line)
            continue
        need = display_width(unit) + (1 if space else 0)
        if line and used + need > width:
            lines.append(line)
            line, used = unit, display_width(unit)
        else:
            line += (" " if space else "") + unit
            used += need
        space = False
    if line:
        lines.append(line)
    return lines

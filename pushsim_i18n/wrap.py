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

_SPACES = re.compile(r"\s+")


def wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: two for a wide (Chinese, full-width) character, one otherwise."""
    return sum(2 if wide(c) else 1 for c in text)


def wrap(text: str, width: int) -> list[str]:
    """``text`` (its whitespace runs already meaning one space) as lines at most ``width`` columns wide, except
    a single word longer than that: :func:`breaks` when it holds Chinese, ``textwrap`` (argparse's own) when not."""
    if not any(wide(c) for c in text):
        return textwrap.wrap(text, width)
    line = _SPACES.sub(" ", text).strip()
    return [line[start:end] for start, end in breaks(line, width)]


# Where a line may break: between words, and between any two Chinese characters, except that closing
# punctuation stays with what it closes and opening punctuation with what it opens (no line starts with "，").
_OPEN = "（「『“《【‘"
_CLOSE = "，。：；、）」』”》】’！？"
_CJK = "\u2e80-\u2fff\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKENS = re.compile(rf"[{_OPEN}]*[{_CJK}][{_CLOSE}]*|[{_OPEN}]*[^\s{_CJK}{_OPEN}{_CLOSE}]+[{_CLOSE}]*"
                     rf"|[{_OPEN}{_CLOSE}]+|\s+")


def breaks(text: str, width: int) -> list[tuple[int, int]]:
    """Where to cut ``text`` into lines of at most ``width`` terminal cells (a Chinese character takes two),
    as (start, end) offsets, broken only where a reader expects it; the spaces at a break are dropped. A word
    wider than a whole line (a URL) is cut into pieces, as nothing else fits."""
    lines: list[tuple[int, int]] = []
    start: int | None = None
    end = used = pending = 0
    for match in _TOKENS.finditer(text):
        if match.group().isspace():
            pending += display_width(match.group()) if start is not None else 0
            continue
        begin, size = match.start(), display_width(match.group())
        if start is not None and used + pending + size > width:
            lines.append((start, end))
            start = None
        if start is None:
            pending = used = 0
            while size > width:  # only a word longer than a whole line gets here
                cut = len(_fit(text[begin:match.end()], width))
                lines.append((begin, begin + cut))
                begin += cut
                size = display_width(text[begin:match.end()])
            start = begin
        used += pending + size
        end, pending = match.end(), 0
    if start is not None:
        lines.append((start, end))
    return lines or [(0, 0)]


def _fit(token: str, room: int) -> str:
    """The longest start of ``token`` within ``room`` cells (at least one character)."""
    end = 1
    while end < len(token) and display_width(token[:end + 1]) <= room:
        end += 1
    return token[:end]

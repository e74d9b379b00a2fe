"""A Babel extractor for the dashboard's HTML: the text of every element marked ``data-i18n`` and the value of
every ``data-i18n-ATTR`` attribute (``data-i18n-title="Clock"`` marks the ``title`` attribute's text).

The page is written in English; its script swaps each marked text for the reader's language, using the same
msgid (the English text, whitespace collapsed) that this extractor puts in the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import IO, Any

_SPACE = re.compile(r"\s+")


def collapse(text: str) -> str:
    """The msgid of a marked text: runs of whitespace as one space, no space at either end."""
    return _SPACE.sub(" ", text).strip()


class _Marked(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._open: list[tuple[str, int, list[str]]] = []  # tag, line, text so far (for data-i18n elements)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if name.startswith("data-i18n-") and value:
                self.found.append((line, collapse(value)))
        if any(name == "data-i18n" for name, _ in attrs):
            self._open.append((tag, line, []))

    def handle_data(self, data: str) -> None:
        for _tag, _line, parts in self._open:
            parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _tag, line, parts = self._open.pop()
            text = collapse("".join(parts))
            if text:
                self.found.append((line, text))


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple[int, None, str,
                                                                                                  list[str]]]:
    """Babel's extractor interface: (line, function name, message, comments) per marked text. The function name
    is None: Babel looks a name up in the extraction keywords (``data-i18n`` is not one) and takes None as a
    plain single message."""
    parser = _Marked()
    parser.feed(fileobj.read().decode(options.get("encoding", "utf-8") if options else "utf-8"))
    parser.close()
    for line, text in sorted(parser.found):
        yield line, None, text, []

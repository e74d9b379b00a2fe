"""The dashboard's HTML extractor (docs/i18n.md "Writing a message": data-i18n and data-i18n-ATTR)."""

from __future__ import annotations

import io

from babel.messages.extract import extract

from pushsim_i18n.catalogs import KEYWORDS
from pushsim_i18n.html import collapse

PAGE = b"""<html><head><title data-i18n>pushsim: simulated APNs, live</title></head><body>
<nav aria-label="Sections" data-i18n-aria-label="Sections"><a data-i18n>Send a
   test push</a></nav><p>not marked</p><ol data-i18n-aria-label="Notifications, newest first"></ol></body></html>"""


def test_babel_takes_every_marked_text_and_attribute_with_collapsed_spaces() -> None:
    """Babel looks the extractor's function name up in its keywords: None is a plain message (the bug was a
    KeyError on "data-i18n"), and the msgid is the text with its whitespace collapsed, as the page's script
    computes it."""
    found = [message for _line, message, _comments, _context in
             extract("pushsim_i18n.html:extract", io.BytesIO(PAGE), keywords=KEYWORDS)]
    assert sorted(found) == sorted(["pushsim: simulated APNs, live", "Sections", "Send a test push",
                                    "Notifications, newest first"])
    assert collapse("  a\n  b ") == "a b"

"""The dashboard's server-side words in the reader's language (docs/admin-api.md §2).

One admin server answers many readers, each in the language its page chose, so the texts the server writes
(rejection advice, console form errors, the phones' hints) are translated per request by ``?lang=zh|en``,
never by the process's language. JSON field names, reason words and enumerated values (``"valid"``,
``"active"``) stay as they are; the page translates those from its own catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushsim_i18n import DEFAULT, Domain, parse

DOMAIN = Domain("dashboard")


def reader_language(query: Mapping[str, str]) -> str:
    """``?lang=`` of a request (English when absent). Raises LanguageError for a language we do not have."""
    value = query.get("lang", "")
    return parse(value, source="?lang=") if value else DEFAULT


def say(language: str, message: str, **values: Any) -> str:
    """``message`` (an English msgid marked with ``N_``) in ``language``, its ``{names}`` filled."""
    text = DOMAIN.in_language(language, message)
    return text.format(**values) if values else text

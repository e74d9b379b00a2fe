"""Keeping the catalogs in step with the code: extract, update, compile, check (``scripts/i18n``).

A development tool, not a runtime one: it needs Babel (a test extra); the programs need only the compiled
``.mo`` files and the standard library's gettext.
"""

from __future__ import annotations

import datetime
import io
import re
import string
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pushsim_i18n import DOMAINS, LANGUAGES, LOCALE_DIR

ROOT = LOCALE_DIR.parents[1]
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")  # English is the msgid itself

# domain -> (Babel extraction method, glob under the repository root, globs to leave out)
SOURCES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "apns_sim": [("python", "apns_sim/**/*.py", ("apns_sim/admin/*",))],
    "dashboard": [
        ("python", "apns_sim/admin/**/*.py", ()),
        ("javascript", "apns_sim/admin/static/**/*.js", ()),
        ("pushsim_i18n.html:extract", "apns_sim/admin/static/**/*.html", ()),
    ],
    "device_sim": [("python", "device_sim/**/*.py", ()), ("python", "pushsim_i18n/phone_reasons.py", ())],
    "provider": [("python", "provider/**/*.py", ())],
    "scenarios": [("python", "scenarios/**/*.py", ())],
    "cli": [("python", "pushsim_i18n/argparse_words.py", ()), ("python", "pushsim_i18n/cli.py", ())],
}
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
# The dashboard's script names its lookup t() (no clash there with a loop variable, unlike Python code).
KEYWORDS_JS = {**KEYWORDS, "t": None}
COMMENT_TAGS = ("Translators:",)
HEADER = "pushsim messages"
FIXED_DATE = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)


def po_path(domain: str, language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def mo_path(domain: str, language: str) -> Path:
    return po_path(domain, language).with_suffix(".mo")


def _files(domain: str) -> Iterator[tuple[str, Path]]:
    for method, pattern, excluded in SOURCES[domain]:
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            if any(Path(relative).match(e) or relative.startswith(e.rstrip("*")) for e in excluded):
                continue
            yield method, path


def extract(domain: str) -> Any:
    """Every message marked in the code of ``domain``, as a Babel catalog (the template)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract as babel_extract

    template = Catalog(project=HEADER, domain=domain, charset="utf-8", fuzzy=False)
    for method, path in _files(domain):
        with path.open("rb") as handle:
            keywords = KEYWORDS_JS if method == "javascript" else KEYWORDS
            for lineno, message, comments, context in babel_extract(method, handle, keywords=keywords,
                                                                     comment_tags=COMMENT_TAGS,
                                                                     strip_comment_tags=True):
                where = (path.relative_to(ROOT).as_posix(), lineno)
                template.add(message, None, [where], auto_comments=comments, context=context)
    return template


def read_po(domain: str, language: str) -> Any:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po as babel_read_po

    path = po_path(domain, language)
    if not path.exists():
        return Catalog(locale=language, project=HEADER, domain=domain, charset="utf-8", fuzzy=False)
    with path.open("rb") as handle:
        return babel_read_po(handle, locale=language, domain=domain)


def update(domains: Iterable[str] = DOMAINS) -> list[str]:
    """Bring every ``.po`` in step with the code (new messages empty, gone ones dropped) and compile ``.mo``.

    Returns one line per domain and language saying what changed."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import write_po

    said = []
    for domain in domains:
        template = extract(domain)
        for language in TRANSLATED:
            catalog = read_po(domain, language)
            before = {m.id for m in catalog if m.id}
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            after = {m.id for m in catalog if m.id}
            path = po_path(domain, language)
            path.parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            # Sorted, without source lines and with a fixed header: two branches that add messages touch
            # different lines, and moving code does not rewrite the catalog.
            catalog.creation_date = catalog.revision_date = FIXED_DATE
            catalog.header_comment = (f"# Simplified Chinese for pushsim's {domain} messages. English is the msgid.\n"
                                      "# Kept by scripts/i18n (docs/i18n.md); edit only the msgstr lines.")
            catalog.version = "1"
            catalog.msgid_bugs_address = catalog.last_translator = catalog.language_team = "pushsim"
            write_po(buffer, catalog, width=116, sort_output=True, no_location=True, include_previous=False)
            path.write_bytes(buffer.getvalue())
            compiled = io.BytesIO()
            write_mo(compiled, catalog, use_fuzzy=False)
            mo_path(domain, language).write_bytes(compiled.getvalue())
            missing = sum(1 for m in catalog if m.id and not _translated(m))
            said.append(f"{domain} [{language}]: {len(after)} messages, +{len(after - before)} "
                        f"-{len(before - after)}, {missing} untranslated")
    return said


def _key(value: Any) -> Any:
    """A plural message's id and strings as a tuple (read_mo gives lists, read_po tuples), a singular's as is."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _translated(message: Any) -> bool:
    strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return not message.fuzzy and all(bool(s) for s in strings)


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def placeholders(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The ``{name}`` fields (as a set: a translation may reorder them) and the ``%`` conversions (in order:
    positional ``%s`` cannot move) of ``text``."""
    fields: set[str] = set()
    try:
        for _literal, field, _spec, _conversion in string.Formatter().parse(text):
            if field is not None:
                fields.add(field)
    except ValueError:
        fields.add("<unbalanced braces>")
    percents = tuple(sorted(m for m in _PERCENT.findall(text) if m != "%%")) if "%(" in text else \
        tuple(m for m in _PERCENT.findall(text) if m != "%%")
    return frozenset(fields), percents


def problems(domains: Iterable[str] = DOMAINS) -> list[str]:
    """What is wrong with the catalogs: a message in the code without a translation, a translation of a message
    the code no longer has, placeholders that differ, a ``.mo`` older than its ``.po``."""
    from babel.messages.mofile import read_mo

    found: list[str] = []
    for domain in domains:
        template = extract(domain)
        wanted = {m.id for m in template if m.id}
        for language in TRANSLATED:
            catalog = read_po(domain, language)
            have = {m.id: m for m in catalog if m.id}
            for message_id in sorted(wanted - have.keys(), key=str):
                found.append(f"{domain} [{language}]: not in the catalog (run scripts/i18n update): {message_id!r}")
            for message_id in sorted(have.keys() - wanted, key=str):
                found.append(f"{domain} [{language}]: no longer in the code: {message_id!r}")
            for message_id in sorted(wanted & have.keys(), key=str):
                message = have[message_id]
                if not _translated(message):
                    found.append(f"{domain} [{language}]: untranslated{' (fuzzy)' if message.fuzzy else ''}: "
                                 f"{message_id!r}")
                    continue
                ids = message_id if isinstance(message_id, tuple) else (message_id,)
                texts = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
                for source, text in zip(ids * len(texts) if len(ids) == 1 else ids, texts, strict=False):
                    if placeholders(source) != placeholders(text):
                        found.append(f"{domain} [{language}]: placeholders differ in {message_id!r}: "
                                     f"{sorted(placeholders(source)[0])} {list(placeholders(source)[1])} vs "
                                     f"{sorted(placeholders(text)[0])} {list(placeholders(text)[1])} in {text!r}")
            mo = mo_path(domain, language)
            if not mo.exists():
                found.append(f"{domain} [{language}]: {mo.name} missing (run scripts/i18n update)")
                continue
            with mo.open("rb") as handle:
                compiled = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
            expected = {_key(k): _key(m.string) for k, m in have.items() if _translated(m)}
            # Babel compiles an untranslated plural as its English; an entry that reads as its English says the same
            # either way, so only real translations are compared.
            compiled = {k: v for k, v in compiled.items() if v != k}
            expected = {k: v for k, v in expected.items() if v != k}
            if compiled != expected:
                found.append(f"{domain} [{language}]: {mo.name} does not match {po_path(domain, language).name} "
                             "(run scripts/i18n update)")
    return found

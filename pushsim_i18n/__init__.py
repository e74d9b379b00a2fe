"""Two languages for everything a person reads: English (the source text) and Simplified Chinese.

Messages are written in English in the code and marked for translation; Babel extracts them into one gettext
catalog per program (a *domain*: ``apns_sim``, ``device_sim``, ``provider``, ``scenarios``, ``dashboard``; and
``cli``, the words every command-line tool shares: argparse's own, ``--lang``), and
the Chinese lives in ``pushsim_i18n/locale/zh/LC_MESSAGES/<domain>.po`` with its compiled ``.mo`` beside it
(``scripts/i18n`` extracts, updates and compiles; docs/i18n.md says how to add a message). English needs no
catalog: a message's English *is* its msgid.

The language is chosen once per process, in this order: ``--lang zh|en`` on the command line, then
``$PUSHSIM_LANG``, then the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, ``LANGUAGE``), then English. A
server that answers many readers (the dashboard's ``?lang=``) asks for a language per call instead.

This package imports nothing of ours, so every program may use it without crossing the boundaries of
docs/architecture.md.

Usage in a module::

    from pushsim_i18n import Domain, N_
    _ = Domain("scenarios").gettext
    story.step(_("APNs answered {status} with apns-id {apns_id}").format(status=200, apns_id=apns_id))

Placeholders are ``str.format`` names, never f-strings (Babel cannot extract an f-string, and the translator
must be able to move a name within the sentence).
"""

from __future__ import annotations

import gettext
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "zh")
DEFAULT = "en"
ENV = "PUSHSIM_LANG"
DOMAINS = ("apns_sim", "device_sim", "provider", "scenarios", "dashboard", "cli")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_current: str | None = None


class LanguageError(ValueError):
    """A language we do not have was asked for by name (``--lang``, ``$PUSHSIM_LANG``, ``?lang=``)."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (module-level tables, translated at use)."""
    return message


def normalize(value: str) -> str | None:
    """``zh``, ``zh-CN``, ``zh_Hans.UTF-8``, ``en_US`` ... to one of LANGUAGES, or None if it is neither."""
    tag = value.strip().replace("-", "_").split(".")[0].split("@")[0].lower()
    if not tag:
        return None
    base = tag.split("_")[0]
    if base in LANGUAGES:
        return base
    return None


def parse(value: str, *, source: str) -> str:
    """A language named by a person; ``source`` says where in the error (``--lang``, ``$PUSHSIM_LANG``)."""
    language = normalize(value)
    if language is None:
        raise LanguageError(f"{source}: unknown language {value!r}; choose one of {', '.join(LANGUAGES)}")
    return language


def from_locale(environ: Mapping[str, str]) -> str | None:
    """The language of the user's locale: the first of LC_ALL, LC_MESSAGES, LANG that is set, else LANGUAGE's
    first language we have (POSIX's order for one category; docs/i18n.md "Choosing the language")."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return normalize(value)
    for part in environ.get("LANGUAGE", "").split(":"):
        language = normalize(part)
        if language:
            return language
    return None


def choose(cli_value: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``--lang`` beats ``$PUSHSIM_LANG`` beats the locale beats English. Raises LanguageError for a bad name."""
    env = os.environ if environ is None else environ
    if cli_value:
        return parse(cli_value, source="--lang")
    if env.get(ENV):
        return parse(env[ENV], source=f"${ENV}")
    return from_locale(env) or DEFAULT


def lang_from_argv(argv: Sequence[str]) -> str | None:
    """The value of ``--lang X`` / ``--lang=X`` in ``argv``, read before argparse runs, so that argparse's own
    help and errors are already in that language."""
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def use(language: str) -> str:
    """Make ``language`` this process's language; returns it."""
    global _current
    if language not in LANGUAGES:
        raise LanguageError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    _current = language
    return language


def setup(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Choose the language from ``argv`` (``--lang``), the environment and the locale, and use it.

    Raises LanguageError for a language we do not have; a CLI prints it as its one-line usage error."""
    args = sys.argv[1:] if argv is None else argv
    return use(choose(lang_from_argv(args), environ))


def current() -> str:
    """This process's language: what :func:`use` set, else what the environment and locale say."""
    if _current is not None:
        return _current
    try:
        return choose(None)
    except LanguageError:
        return DEFAULT  # a bad $PUSHSIM_LANG is reported by the CLI that reads it, not by every message


@cache
def catalog(domain: str, language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``domain`` in ``language``; English (and a missing file) is the identity."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    return gettext.translation(domain, localedir=str(LOCALE_DIR), languages=[language], fallback=True)


class Domain:
    """The messages of one program. ``gettext`` reads the process's language at each call, so a module may bind
    ``_ = Domain("...").gettext`` at import time, before the CLI has read ``--lang``."""

    def __init__(self, name: str) -> None:
        if name not in DOMAINS:
            raise ValueError(f"unknown message domain {name!r}")
        self.name = name

    def gettext(self, message: str) -> str:
        return catalog(self.name, current()).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return catalog(self.name, current()).ngettext(singular, plural, n)

    def in_language(self, language: str, message: str) -> str:
        """``message`` in ``language`` whatever this process speaks (a server answering a reader's ``?lang=``)."""
        return catalog(self.name, language).gettext(message)

    def messages(self, language: str) -> dict[str, str]:
        """Every translated message of this domain in ``language`` (msgid -> text), for a web page's script."""
        translations = catalog(self.name, language)
        table = getattr(translations, "_catalog", {})
        return {key: value for key, value in table.items() if isinstance(key, str) and key and value}

"""argparse's own words ("usage:", "options:", "the following arguments are required: %s", ...) in the
chosen language.

argparse looks every word it prints up through the ``gettext`` functions it imported at module level
(``argparse._`` and ``argparse.ngettext``), at the moment it prints or builds a parser. :func:`install` points
them at our ``cli`` catalog, so a parser built after ``pushsim_i18n.setup`` speaks the process's language
(docs/i18n.md). The msgids below are argparse's own, spelled as Python 3.11 to 3.14 spell them (the last five
exist only in 3.12 and later); a word argparse has that is not here simply stays English.
"""

from __future__ import annotations

import argparse

from pushsim_i18n import N_, Domain

DOMAIN = Domain("cli")

WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("subcommands"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("expected %s argument"),  # argparse's ngettext: Chinese has one form, so each English form is a msgid
    N_("expected %s arguments"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"),
    # Python 3.12 and later
    N_("%(prog)s: warning: %(message)s\n"),
    N_("invalid choice: %(value)r, maybe you meant %(closest)r? (choose from %(choices)s)"),
    N_("option '%(option)s' is deprecated"),
    N_("argument '%(argument_name)s' is deprecated"),
    N_("command '%(parser_name)s' is deprecated"),
)


def word(message: str) -> str:
    """One of argparse's words in the chosen language, for a tool that says what argparse would say."""
    return DOMAIN.gettext(message)


def gettext(message: str | None) -> str | None:
    """argparse's ``_``: it also passes None (a sub-parsers group without a description)."""
    return word(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """argparse's ``ngettext``: the English form for ``n``, then that form's translation."""
    return word(singular if n == 1 else plural)


def install() -> None:
    """Route argparse's lookups to our catalog; idempotent. Parsers built afterwards (their section titles and
    ``--help`` text are looked up when built) and every error argparse prints then use the chosen language."""
    argparse._ = gettext  # type: ignore[attr-defined]  # argparse imports it; the stub does not say so
    argparse.ngettext = ngettext  # type: ignore[attr-defined]

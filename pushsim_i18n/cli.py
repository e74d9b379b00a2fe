"""What every pushsim command-line tool does the same way in both languages (docs/cli.md, "Language, errors
and output"): choose the language before argparse builds anything, write UTF-8, take ``--lang`` before or after
any sub-command, and report a usage error as one line ``prog: error: message``.

Each tool's ``main()`` calls :func:`start` first, builds its parser from :class:`OneLineParser`, and passes it
to :func:`add_lang_option` once built.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pushsim_i18n import LANGUAGES, LanguageError, argparse_words, setup
from pushsim_i18n.wrap import wide, wrap

_ = argparse_words.DOMAIN.gettext


def utf8_output() -> None:
    """stdout and stderr write UTF-8 whatever the locale says. Under a C or POSIX locale (cron, many containers,
    ``env -i``) Python would pick ASCII and raise UnicodeEncodeError at the first Chinese character, in a help
    text or in a notification's alert; a pipe gets the same bytes a terminal gets."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower().replace("-", "") != "utf8":
            stream.reconfigure(encoding="utf-8")


def error_line(prog: str, message: str) -> str:
    """``prog: error: message`` in the chosen language (argparse's own words, one line)."""
    text = argparse_words.word("%(prog)s: error: %(message)s\n")
    return (text % {"prog": prog, "message": message}).rstrip("\n")


def start(prog: str, argv: Sequence[str] | None = None) -> str:
    """First thing in a tool's ``main()``: UTF-8 output, argparse in our catalog, the language chosen from
    ``--lang``, ``$PUSHSIM_LANG`` and the locale. A language we do not have is the usual one-line usage error
    (exit 2). Returns the language."""
    utf8_output()
    argparse_words.install()
    try:
        return setup(sys.argv[1:] if argv is None else argv)
    except LanguageError as exc:
        print(error_line(prog, str(exc)), file=sys.stderr)
        raise SystemExit(2) from None


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, wrapped by display columns when it holds Chinese (:mod:`pushsim_i18n.wrap`)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(" ".join(text.split()), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(" ".join(text.split()), width - len(indent)))


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line, ``prog: error: message``, not argparse's usage block before it: a learner
    should not hunt for the line that matters. Sub-parsers made by ``add_subparsers`` inherit the class, so
    every level answers the same way; ``prog`` names the sub-command. ``HINT`` adds where the help is."""

    HINT = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        """argparse ends each section title with an ASCII colon; a Chinese title takes the full-width one."""
        self._name_sub_commands()
        text = super().format_help()
        for group in self._action_groups:
            title = group.title or ""
            if title and any(wide(c) for c in title):
                text = text.replace(f"\n{title}:\n", f"\n{title}：\n")
        return text

    def _name_sub_commands(self) -> None:
        """A sub-command group is named by its choices, ``{serve,portal,...}`` as argparse's usage shows it,
        not by its ``dest`` (``command``, ``ACTION``), a name a person never typed: "the following arguments
        are required: {create,list,revoke}". Done when parsing or formatting, once every choice is added."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and action.metavar is None:
                action.metavar = "{" + ",".join(action.choices) + "}"

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._name_sub_commands()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._name_sub_commands()
        return super().format_usage()

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """An unknown sub-command is said as such, with the ones there are (not "argument command: invalid
        choice: 'bogus'")."""
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            names = _(", ").join(dict.fromkeys(action.choices))
            raise argparse.ArgumentError(None, _("unknown sub-command: {value} (choose from {choices})").format(
                value=value, choices=names))
        super()._check_value(action, value)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        """A number that is not one says so in words ("not an integer"), not with Python's type name
        ("invalid int value")."""
        if action.type in (int, float):
            try:
                return action.type(arg_string)
            except ValueError:
                text = _("not an integer: '{value}'") if action.type is int else _("not a number: '{value}'")
                raise argparse.ArgumentError(action, text.format(value=arg_string)) from None
        return super()._get_value(action, arg_string)

    def error(self, message: str) -> NoReturn:
        if self.HINT:
            message = _("{message} (see `{prog} --help`)").format(message=message, prog=self.prog)
        print(error_line(self.prog, message), file=sys.stderr)
        raise SystemExit(2)


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    """``--lang`` on ``parser`` and every sub-parser below it, so it may come before or after a sub-command.
    :func:`start` has already read it (argparse only accepts it and shows it in ``--help``)."""
    if "--lang" not in parser._option_string_actions:
        parser.add_argument("--lang", default=argparse.SUPPRESS, metavar="{" + ",".join(LANGUAGES) + "}",
                            help=_("language of messages and help: zh or en (default: $PUSHSIM_LANG, then the "
                                   "locale)"))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                add_lang_option(child)

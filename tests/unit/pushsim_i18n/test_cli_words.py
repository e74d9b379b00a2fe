"""The words every command-line tool shares (docs/cli.md, "Language, errors and output"; docs/i18n.md): argparse's
own words in the chosen language, one-line usage errors, and help wrapped by display columns."""

from __future__ import annotations

import argparse
import inspect
import textwrap

import pytest

import pushsim_i18n
from pushsim_i18n import argparse_words
from pushsim_i18n.cli import OneLineParser, add_lang_option, error_line
from pushsim_i18n.wrap import display_width, wrap

NEWER_PYTHONS_ONLY = 5  # the last WORDS exist only in Python 3.12 and later


@pytest.fixture
def zh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chinese for this test only: the language and argparse's hook are process-wide state."""
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    monkeypatch.setattr(argparse, "_", argparse._)  # type: ignore[attr-defined]
    monkeypatch.setattr(argparse, "ngettext", argparse.ngettext)  # type: ignore[attr-defined]
    argparse_words.install()


def test_the_words_we_translate_are_argparse_own() -> None:
    """A misspelt msgid would never be looked up: each 3.11 word stands in this Python's argparse as written."""
    source = inspect.getsource(argparse)
    for word in argparse_words.WORDS[:-NEWER_PYTHONS_ONLY]:
        assert repr(word)[1:-1] in source or word.replace("\n", "\\n") in source, word


def test_help_in_chinese_has_chinese_section_titles_and_option_help(zh: None) -> None:
    parser = OneLineParser(prog="tool", description="描述")
    parser.add_argument("name", help="名字")
    parser.add_argument("--count", type=int, help="数量")
    add_lang_option(parser)
    text = parser.format_help()
    assert text.startswith("用法：tool")
    assert "\n位置参数：\n" in text and "\n选项：\n" in text
    assert "显示这份帮助并退出" in text and "提示信息和帮助的语言" in text


def test_a_missing_required_option_in_chinese_is_one_chinese_line(zh: None,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    parser = OneLineParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("send").add_argument("--token", required=True)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["send"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "tool send：错误：缺少必需的参数：--token\n"


def test_english_is_argparse_with_words_a_person_understands(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pushsim_i18n, "_current", "en")
    argparse_words.install()
    parser = OneLineParser(prog="tool")
    parser.add_argument("--n", type=int)
    assert parser.format_help().startswith("usage: tool")
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "x"])
    assert capsys.readouterr().err == "tool: error: argument --n: not an integer: 'x'\n"
    assert error_line("tool", "bad") == "tool: error: bad"


def test_lang_is_accepted_before_and_after_a_sub_command() -> None:
    parser = OneLineParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("--x")
    add_lang_option(parser)
    assert parser.parse_args(["--lang", "zh", "run"]).command == "run"
    assert parser.parse_args(["run", "--lang", "zh", "--x", "1"]).x == "1"


TEXT_ZH = ("证书能连接哪个 APNs：开发环境（sandbox）、生产环境（production）或两者都能（universal），"
           "设备令牌（device token）由 APNs 分配。")


@pytest.mark.parametrize("width", [20, 33, 54, 80])
def test_chinese_wraps_by_display_columns_and_never_inside_a_word(width: int) -> None:
    lines = wrap(TEXT_ZH, width)
    assert all(display_width(line) <= width for line in lines)
    assert not any(line[0] in "，。：）、" for line in lines)  # closing punctuation stays with what it closes
    assert not any(line[-1] in "（“" for line in lines)
    assert "".join(lines).replace(" ", "") == TEXT_ZH.replace(" ", "")
    words = {"APNs", "sandbox", "production", "universal", "device", "token"}
    assert all(any(w in line for line in lines) for w in words)  # no English word split across lines


def test_english_wraps_as_textwrap_does() -> None:
    text = "seconds a priority 5 push may wait to leave in a burst with others; priority 1 rides along"
    assert wrap(text, 30) == textwrap.wrap(text, 30)


def _tool() -> OneLineParser:
    parser = OneLineParser(prog="tool")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--count", type=int)
    run.add_argument("--seconds", type=float)
    sub.add_parser("stop")
    return parser


@pytest.mark.parametrize(("argv", "en", "zh_line"), [
    ([], "tool: error: the following arguments are required: {run,stop}",
     "tool：错误：缺少必需的参数：{run,stop}"),
    (["bogus"], "tool: error: unknown sub-command: bogus (choose from run, stop)",
     "tool：错误：没有这个子命令：bogus（可选：run、stop）"),
    (["run", "--count", "abc"], "tool run: error: argument --count: not an integer: 'abc'",
     "tool run：错误：参数 --count：不是整数：'abc'"),
    (["run", "--seconds", "soon"], "tool run: error: argument --seconds: not a number: 'soon'",
     "tool run：错误：参数 --seconds：不是数字：'soon'"),
])
def test_errors_name_what_a_person_typed(argv: list[str], en: str, zh_line: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Not argparse's internal names (`argument command: invalid choice`, `ACTION`, `invalid int value`): the
    sub-commands there are, and "not an integer" (docs/cli.md, "Language, errors and output")."""
    monkeypatch.setattr(argparse, "_", argparse._)  # type: ignore[attr-defined]
    monkeypatch.setattr(argparse, "ngettext", argparse.ngettext)  # type: ignore[attr-defined]
    argparse_words.install()
    for lang, line in (("en", en), ("zh", zh_line)):
        monkeypatch.setattr(pushsim_i18n, "_current", lang)
        with pytest.raises(SystemExit):
            _tool().parse_args(argv)
        assert capsys.readouterr().err == line + "\n"


def test_help_and_usage_show_the_sub_commands() -> None:
    assert "{run,stop}" in _tool().format_usage() and "{run,stop}" in _tool().format_help()

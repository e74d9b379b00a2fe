"""Choosing the language (docs/i18n.md, "Choosing the language"): --lang, then $PUSHSIM_LANG, then the locale."""

from __future__ import annotations

import pytest

import pushsim_i18n
from pushsim_i18n import LanguageError, choose, lang_from_argv, normalize


@pytest.mark.parametrize(("value", "language"), [
    ("zh", "zh"), ("zh-CN", "zh"), ("zh_CN.UTF-8", "zh"), ("zh_Hans", "zh"), ("ZH", "zh"),
    ("en", "en"), ("en_US.UTF-8", "en"), ("C", None), ("POSIX", None), ("fr_FR", None), ("", None),
])
def test_normalize(value: str, language: str | None) -> None:
    assert normalize(value) == language


def test_the_command_line_beats_the_environment_which_beats_the_locale() -> None:
    env = {"PUSHSIM_LANG": "en", "LANG": "zh_CN.UTF-8"}
    assert choose("zh", env) == "zh"
    assert choose(None, env) == "en"
    assert choose(None, {"LANG": "zh_CN.UTF-8"}) == "zh"
    assert choose(None, {"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert choose(None, {"LANGUAGE": "fr:zh_CN"}) == "zh"
    assert choose(None, {}) == "en"
    assert choose(None, {"LANG": "C.UTF-8"}) == "en"


def test_a_language_we_do_not_have_is_an_error_naming_where_it_came_from() -> None:
    with pytest.raises(LanguageError, match=r"--lang: unknown language 'fr'; choose one of en, zh"):
        choose("fr", {})
    with pytest.raises(LanguageError, match=r"\$PUSHSIM_LANG: unknown language 'klingon'"):
        choose(None, {"PUSHSIM_LANG": "klingon"})


@pytest.mark.parametrize(("argv", "value"), [
    (["run", "--lang", "zh"], "zh"), (["--lang=en", "x"], "en"), (["x"], None), (["--", "--lang", "zh"], None),
])
def test_lang_is_read_from_argv_before_argparse(argv: list[str], value: str | None) -> None:
    assert lang_from_argv(argv) == value


def test_a_domain_translates_in_the_language_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """English is the msgid itself; an unknown message falls back to its English in any language."""
    domain = pushsim_i18n.Domain("scenarios")
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    assert domain.gettext("no such message, surely") == "no such message, surely"
    assert domain.in_language("en", "anything") == "anything"
    with pytest.raises(ValueError, match="unknown message domain"):
        pushsim_i18n.Domain("nope")

"""``device-sim`` help: every option says what it is, in the reader's language (docs/cli.md, "Language, errors
and output")."""

from __future__ import annotations

import argparse

import pytest

import pushsim_i18n
from device_sim import cli


def _option(parser: argparse.ArgumentParser, command: str, option: str) -> argparse.Action:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]._option_string_actions[option]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_environment_has_help_in_register_and_run(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--environment` (the app's aps-environment entitlement) had no help text in `register` and `run`."""
    monkeypatch.setattr(pushsim_i18n, "_current", lang)
    parser = cli._parser()
    for command in ("register", "run"):
        help_text = _option(parser, command, "--environment").help or ""
        assert "aps-environment" in help_text and "sandbox" in help_text and "production" in help_text
        assert ("环境" in help_text) == (lang == "zh"), help_text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_option_of_every_sub_command_has_help(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pushsim_i18n, "_current", lang)
    parser = cli._parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {action.option_strings[0]}" for name, child in sub.choices.items()
               for action in child._actions if action.option_strings and not action.help]
    assert missing == []


def test_sub_command_errors_name_the_sub_commands(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Not `argument command: invalid choice` (docs/cli.md, "Language, errors and output")."""
    monkeypatch.setattr(pushsim_i18n, "_current", pushsim_i18n._current)  # main() chooses; restored after
    for argv, line in (([], "device-sim: error: the following arguments are required: "
                            "{register,run,uninstall,restore,erase,fleet}"),
                       (["bogus"], "device-sim: error: unknown sub-command: bogus (choose from register, run, "
                                   "uninstall, restore, erase, fleet)")):
        with pytest.raises(SystemExit):
            cli.main([*argv, "--lang", "en"])
        assert capsys.readouterr().err == line + "\n"

"""The phone's reasons in the narration's language (pushsim_i18n/phone_reasons.py; docs/i18n.md "Writing a message").

The reasons are made by the phone's own rules (the same list the dashboard's test uses), so a reason added to
device_sim without its words here fails this test."""

from __future__ import annotations

import re

import pytest

import pushsim_i18n
from pushsim_i18n.phone_reasons import told
from tests.unit.apns_sim.admin.test_dashboard_words import TECHNICAL, phone_reasons

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")


def test_every_reason_the_phone_gives_reads_in_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    for why in phone_reasons():
        text = told(why)
        english = [w for w in LATIN_WORD.findall(TECHNICAL.sub("", text)) if w not in ("of", "s")]
        assert not english, (why, text)
    assert told("badge 2147483648 is above 2147483647, the largest the phone shows").count("2147483648") == 1


def test_in_english_a_reason_reads_as_the_phone_wrote_it_and_an_unknown_one_is_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """English is the msgid itself; a reason this table lacks (a newer phone's) is shown as written."""
    for why in phone_reasons():
        assert told(why) == why
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    assert told(("a reason from the future",)) == "a reason from the future"

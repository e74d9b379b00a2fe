"""Every message a person reads exists in both languages (docs/i18n.md, "Keeping the catalogs complete").

English is each message's msgid, written in the code; the Chinese is in pushsim_i18n/locale/zh. This test
extracts every marked message from the code with Babel, as `scripts/i18n check` does, and fails on one without a
Chinese translation, a translation whose placeholders differ from the English, a translation of a message the code
no longer has, or a compiled .mo that is not the .po.
"""

from __future__ import annotations

import pytest

from pushsim_i18n import DOMAINS
from pushsim_i18n.catalogs import placeholders, problems


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_message_has_both_languages_with_the_same_placeholders(domain: str) -> None:
    """docs/i18n.md: a message without Chinese, with other placeholders, or only in the catalog is an error."""
    assert problems([domain]) == []


def test_placeholders_are_compared_by_name_and_percent_conversions_in_order() -> None:
    """The check itself can fail: a dropped or renamed field, or a changed %-conversion, is a difference."""
    assert placeholders("sent {n} to {token}") == placeholders("向 {token} 发送了 {n} 条")
    assert placeholders("sent {n} to {token}") != placeholders("发送了 {n} 条")
    assert placeholders("sent {n}") != placeholders("发送了 {count} 条")
    assert placeholders("default: %(default)s") == placeholders("默认值：%(default)s")
    assert placeholders("%s of %d") != placeholders("%d 中的 %s")
    assert placeholders("100%% sure {x}") == placeholders("百分之百 {x}")

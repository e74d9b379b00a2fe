"""Plain-words advice for every rejection reason (docs/apns-protocol.md §4.3, §4.4)."""

from __future__ import annotations

import pytest

from apns_sim.admin.advice import ADVICE, DO_NOT_RETRY, RETRY_LATER, advice_for, advice_table
from apns_sim.push.reasons import Reason


def test_every_reason_has_advice() -> None:
    """§4.3: the dashboard explains every reason APNs can answer, none left blank."""
    assert set(ADVICE) == set(Reason)
    for reason, advice in ADVICE.items():
        assert advice.meaning.strip() and advice.action.strip() and advice.retry.strip(), reason
        assert advice.meaning.endswith(".") and advice.action.endswith("."), reason


@pytest.mark.parametrize("reason", [Reason.BAD_DEVICE_TOKEN, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC, Reason.FORBIDDEN,
                                    Reason.EXPIRED_TOKEN, Reason.UNREGISTERED, Reason.PAYLOAD_TOO_LARGE])
def test_apple_says_never_retry_these(reason: Reason) -> None:
    """§4.4: Apple lists these as not to be retried."""
    assert ADVICE[reason].retry == DO_NOT_RETRY


@pytest.mark.parametrize("reason", [Reason.TOO_MANY_REQUESTS, Reason.INTERNAL_SERVER_ERROR,
                                    Reason.SERVICE_UNAVAILABLE])
def test_apple_says_retry_these_later(reason: Reason) -> None:
    """§4.4: 5xx may be retried with back-off; TooManyRequests after a delay."""
    assert ADVICE[reason].retry == RETRY_LATER


def test_lookup_by_wire_string_and_table() -> None:
    """§4.3: the page looks advice up by the wire string the journey carries."""
    unregistered = advice_for("Unregistered")
    assert unregistered is not None and "Stop sending to this token" in unregistered.action
    assert advice_for("NotAReason") is None and advice_for(None) is None and advice_for("") is None
    table = advice_table()
    assert [row["reason"] for row in table] == [r.wire for r in Reason]
    row = next(r for r in table if r["reason"] == "BadDeviceToken")
    assert row["status"] == 400 and "other environment" in row["meaning"]


def test_advice_in_chinese_keeps_the_reason_words_and_statuses() -> None:
    """docs/admin-api.md §2: GET /_sim/reasons?lang=zh, every reason translated, nothing else changed."""
    english, chinese = advice_table(), advice_table("zh")
    assert [(r["reason"], r["status"]) for r in english] == [(r["reason"], r["status"]) for r in chinese]
    for en, zh in zip(english, chinese, strict=True):
        for key in ("meaning", "action", "retry"):
            assert zh[key] != en[key] and any("\u4e00" <= c <= "\u9fff" for c in zh[key]), (en["reason"], key)

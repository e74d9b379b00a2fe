"""``parse_send_request``: a ``POST /v1/notifications`` body checked once, without the store or a server.

The push is checked before anyone knows the tokens (docs/architecture.md contract 4), so a body that could
never be sent is a 400 even when no device would receive it; every device then gets one ``Notification``
made from the template.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from provider.apns.notification import Notification, Template, alert
from provider.web import SendRequest, parse_send_request

APP = "com.example.app"
T = ["a1" * 32, "b2" * 32]


def _refusal(body: dict[str, Any]) -> str:
    with pytest.raises(web.HTTPBadRequest) as info:
        parse_send_request(body)
    assert info.value.content_type == "application/json"
    error: str = json.loads(info.value.text or "")["error"]
    return error


def test_an_alert_to_the_apps_devices() -> None:
    send = parse_send_request({"bundle_id": APP, "alert": "hi", "user_id": "u1", "collapse_id": "c"})
    assert send == SendRequest(
        bundle_id=APP,
        template=Template(topic=APP, payload=alert("hi"), push_type="alert", collapse_id="c"),
        tokens=None,
        user_id="u1",
    )


def test_explicit_tokens_are_normalised_and_each_gets_its_own_notification() -> None:
    send = parse_send_request({"bundle_id": APP, "tokens": [T[0].upper(), T[1]], "alert": "hi", "priority": 10})
    assert send.tokens == (T[0], T[1]) and send.user_id is None
    notes = [send.template.for_token(token) for token in send.tokens]
    assert notes == [
        Notification(token=t, topic=APP, payload=alert("hi"), push_type="alert", priority=10) for t in T
    ]


def test_a_content_available_payload_is_a_background_push_at_priority_5() -> None:
    send = parse_send_request({"bundle_id": APP, "payload": {"aps": {"content-available": 1}}})
    assert (send.template.push_type, send.template.priority) == ("background", 5)
    assert send.template.for_token(T[0]).body == b'{"aps":{"content-available":1}}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # no tokens and no devices known yet: the push itself is still checked
        ({"bundle_id": APP, "alert": "x", "priority": 7}, "priority must be 10, 5 or 1, got 7"),
        ({"bundle_id": APP, "alert": "x", "push_type": "banner"}, "push_type must be one of"),
        ({"bundle_id": APP, "alert": "x", "expiration": -1}, "expiration must be a UNIX time"),
        ({"bundle_id": APP, "alert": "x", "collapse_id": " c"}, "collapse_id must be a header value"),
        ({"bundle_id": APP, "payload": {"aps": {"badge": -1}}}, '"aps.badge" must be a non-negative integer'),
        ({"bundle_id": APP, "payload": {"big": "x" * 5000}}, "at most 4096"),
        # the request's own shape
        ({"alert": "x"}, '"bundle_id" is required'),
        ({"bundle_id": APP}, 'give exactly one of "alert"'),
        ({"bundle_id": APP, "alert": ""}, '"alert" must be a non-empty string'),
        ({"bundle_id": APP, "payload": []}, '"payload" must be a JSON object'),
        ({"bundle_id": APP, "alert": "x", "user_id": ""}, '"user_id" must be a non-empty string'),
        ({"bundle_id": APP, "alert": "x", "tokens": [T[0]], "user_id": "u"}, "not both"),
        ({"bundle_id": APP, "alert": "x", "tokens": []}, "non-empty list"),
        ({"bundle_id": APP, "alert": "x", "tokens": T[0]}, "non-empty list"),
    ],
)
def test_a_bad_body_is_a_400_that_says_why(body: dict[str, Any], message: str) -> None:
    assert message in _refusal(body)


def test_the_first_problem_is_the_one_reported() -> None:
    """Order: bundle id, payload, targets, each token, then the push; so a bad token beats a bad priority."""
    assert '"tokens[1]"' in _refusal({"bundle_id": APP, "alert": "x", "tokens": [T[0], "zz"], "priority": 7})
    assert '"bundle_id"' in _refusal({"payload": [], "tokens": []})
    assert "exactly one" in _refusal({"bundle_id": APP, "tokens": [], "priority": 7})

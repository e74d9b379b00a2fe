"""Notification and payload validation: refuse locally what APNs would refuse (docs/apns-protocol.md §2, §3, §8)."""

from __future__ import annotations

import pytest

from provider.apns.notification import (
    MAX_PAYLOAD,
    MAX_VOIP_PAYLOAD,
    Notification,
    Template,
    alert,
    background,
    infer_push_type,
    validate_payload,
)

TOKEN = "0123456789abcdef" * 4


def make(**kw: object) -> Notification:
    base: dict[str, object] = {"token": TOKEN, "topic": "com.example.app", "payload": alert("hi")}
    base.update(kw)
    return Notification(**base)  # type: ignore[arg-type]


def test_a_valid_notification() -> None:
    n = make(priority=5, expiration=0, collapse_id="x" * 64)
    assert n.body == b'{"aps":{"alert":"hi"}}'
    assert n.apns_id is None and n.with_apns_id().apns_id is not None


@pytest.mark.parametrize("token", ["ab", "AB" * 32, "ab" * 100, "cd" * 54, "ef" * 80])
def test_tokens_of_any_even_length_up_to_200_hex(token: str) -> None:
    assert make(token=token).token == token.lower()


@pytest.mark.parametrize(
    ("token", "message"),
    [("", "non-empty"), ("abc", "even number"), ("zz" * 32, "hexadecimal"), ("ab" * 101, "at most 200")],
)
def test_bad_tokens(token: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(token=token)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("topic", "", "topic"),
        ("topic", "com example", "topic"),
        ("push_type", "banner", "push_type"),
        ("priority", 7, "priority"),
        ("priority", True, "priority"),
        ("expiration", -1, "expiration"),
        ("collapse_id", "x" * 65, "64 bytes"),
        ("collapse_id", "é" * 33, "64 bytes"),
        ("apns_id", "not-a-uuid", "UUID"),
    ],
)
def test_each_bad_field_is_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**{field: value})


def test_apns_id_is_normalised_to_lower_case() -> None:
    assert (
        make(apns_id="123E4567-E89B-12D3-A456-426614174000").apns_id == "123e4567-e89b-12d3-a456-426614174000"
    )


def test_with_apns_id_keeps_an_existing_id() -> None:
    n = make(apns_id="123e4567-e89b-12d3-a456-426614174000")
    assert n.with_apns_id() is n


def test_size_limits_4096_and_5120_for_voip() -> None:
    room = MAX_PAYLOAD - len(b'{"aps":{},"k":""}')
    exact = {"aps": {}, "k": "x" * room}
    assert len(validate_payload(exact)) == MAX_PAYLOAD
    over = {"aps": {}, "k": "x" * (room + 1)}
    with pytest.raises(ValueError, match="4097 bytes; APNs accepts at most 4096"):
        validate_payload(over)
    assert len(make(push_type="voip", topic="com.example.app.voip", payload=over).body) == MAX_PAYLOAD + 1
    with pytest.raises(ValueError, match="at most 5120"):
        validate_payload({"k": "x" * MAX_VOIP_PAYLOAD}, "voip")


def test_size_counts_utf8_bytes() -> None:
    with pytest.raises(ValueError, match="bytes"):
        validate_payload({"k": "é" * 2100})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "JSON object"),
        ({"aps": "x"}, '"aps" must be a JSON object'),
        ({"aps": {"alert": 3}}, "aps.alert"),
        ({"aps": {"alert": {"title": 3}}}, "aps.alert.title"),
        ({"aps": {"alert": {"loc-args": "x"}}}, "list of strings"),
        ({"aps": {"badge": -1}}, "aps.badge"),
        ({"aps": {"badge": "1"}}, "aps.badge"),
        ({"aps": {"badge": 2**31}}, "up to 2147483647"),  # the phone would refuse it (docs/choices.md)
        ({"aps": {"badge": 4294967296}}, "up to 2147483647"),
        ({"aps": {"sound": 1}}, "aps.sound"),
        ({"aps": {"content-available": 2}}, "content-available"),
        ({"aps": {"interruption-level": "loud"}}, "interruption-level"),
        ({"k": {1, 2}}, "JSON-serializable"),
        ({"k": float("nan")}, "JSON-serializable"),
    ],
)
def test_payload_shape(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_payload(payload)  # type: ignore[arg-type]


def test_alert_builder() -> None:
    assert alert("Hello") == {"aps": {"alert": "Hello"}}
    built = alert("Body", title="Title", badge=3, sound="default", thread_id="t", custom={"order": 7})
    assert built == {
        "aps": {
            "alert": {"title": "Title", "body": "Body"},
            "badge": 3,
            "sound": "default",
            "thread-id": "t",
        },
        "order": 7,
    }
    assert alert(badge=0) == {"aps": {"badge": 0}}
    with pytest.raises(ValueError, match="at least one"):
        alert()
    with pytest.raises(ValueError, match='"aps"'):
        alert("x", custom={"aps": {}})
    with pytest.raises(ValueError, match="bytes"):
        alert("x" * 5000)


def test_background_and_push_type_inference() -> None:
    assert background({"sync": 1}) == {"aps": {"content-available": 1}, "sync": 1}
    assert infer_push_type(background()) == "background"
    assert infer_push_type({"aps": {"content-available": 1, "sound": "x"}}) == "alert"
    assert infer_push_type(alert("x")) == "alert"
    assert infer_push_type({"custom": 1}) == "alert"


def test_a_background_payload_goes_as_a_background_push_at_priority_5() -> None:
    """§2.2: a content-available-only push must be push type background and priority 5 (10 is an error);
    the default push type follows the payload, an explicit one is kept."""
    silent = make(payload=background({"sync": 1}))
    assert (silent.push_type, silent.priority) == ("background", 5)
    assert (make().push_type, make().priority) == ("alert", None)
    assert make(payload=background(), priority=1).priority == 1
    assert make(payload=background(), push_type="alert").push_type == "alert"
    assert make(push_type="background").priority == 5
    assert make(push_type=None).push_type is None  # no header at all: APNs infers (its choice)


def test_notifications_are_frozen_values() -> None:
    n = make()
    with pytest.raises(AttributeError):
        n.token = "ff"  # type: ignore[misc]
    assert n == make() and hash(n) == hash(make())


@pytest.mark.parametrize(
    "collapse_id",
    ["a\r\nx-injected: 1", "a\nb", "a\x00b", "del\x7f", "\ttab", " leading", "trailing ", "bell\x07"],
)
def test_collapse_id_must_be_a_header_value(collapse_id: str) -> None:
    """§2.1 apns-collapse-id is an HTTP field value (RFC 9110 §5.5): no control characters, no outer spaces.

    The connection sends headers without h2's outbound validation (provider/apns/connection.py), so this
    check is what keeps a caller's string from becoming a malformed or smuggled header.
    """
    with pytest.raises(ValueError, match="control characters"):
        make(collapse_id=collapse_id)


@pytest.mark.parametrize("collapse_id", ["score update", "é-ü-✓", "x" * 64, "plain", "~!@#$%^&*()"])
def test_headers_of_valid_notifications_pass_h2s_own_validation(collapse_id: str) -> None:
    """§2.1: what ``request_headers`` builds from any valid notification is a valid HTTP/2 header block.

    h2's outbound validation is off on our connections (a per-push cost); run it here on the same headers,
    so turning it off loses nothing.
    """
    import h2.utilities

    from provider.apns.protocol import request_headers

    note = make(collapse_id=collapse_id, priority=10, expiration=1, token="AB" * 100).with_apns_id()
    headers = h2.utilities.utf8_encode_headers(
        request_headers(note, authority="api.push.apple.com", authorization="bearer a.b.c")
    )
    flags = h2.utilities.HeaderValidationFlags(
        is_client=True, is_trailer=False, is_response_header=False, is_push_promise=False
    )
    assert list(h2.utilities.validate_outbound_headers(headers, flags)) == headers


def test_a_template_makes_the_same_notification_for_each_token() -> None:
    template = Template(topic="com.example.app", payload={"aps": {"content-available": 1}}, collapse_id="c")
    assert (template.push_type, template.priority) == ("background", 5)  # resolved once, as Notification does
    for token in ("AB" * 32, "cd" * 8):
        n = template.for_token(token)
        assert n == Notification(token=token, topic="com.example.app", payload=template.payload, collapse_id="c")
        assert n.token == token.lower() and n.apns_id is None
    with pytest.raises(ValueError, match="hexadecimal"):
        template.for_token("zz")


@pytest.mark.parametrize(
    "fields",
    [
        {"topic": "*"},
        {"push_type": "banner"},
        {"priority": 7},
        {"priority": True},
        {"expiration": -1},
        {"collapse_id": "x" * 65},
        {"collapse_id": "a\nb"},
        {"payload": {"aps": {"badge": -1}}},
        {"payload": {"big": "x" * 5000}},
        {"payload": "not an object"},
    ],
)
def test_a_template_refuses_what_a_notification_refuses_with_the_same_message(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"topic": "com.example.app", "payload": alert("hi"), **fields}
    with pytest.raises(ValueError) as from_notification:
        Notification(token=TOKEN, **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as from_template:
        Template(**base)  # type: ignore[arg-type]
    assert str(from_template.value) == str(from_notification.value)


def test_the_largest_badge_the_phone_shows_is_sent() -> None:
    """docs/choices.md "Badge numbers": the provider refuses what the simulated phone would not show, no more."""
    assert validate_payload({"aps": {"badge": 2**31 - 1}}) == b'{"aps":{"badge":2147483647}}'

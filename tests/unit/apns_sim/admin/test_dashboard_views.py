"""The dashboard's read models and console form, as pure code: registry in memory, journeys, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apns_sim.admin.console import ConsoleError, parse_console_push
from apns_sim.admin.phone_view import phones_view
from apns_sim.admin.portal_view import certificate_status, key_status
from apns_sim.courier import AppStatus
from apns_sim.delivery.store_and_forward import Delivery
from apns_sim.model.app_status import AppReports
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import Journey, JourneyLog
from apns_sim.model.records import AuthKeyRecord, CertificateRecord
from apns_sim.model.registry import Registry

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def certificate(**kw: object) -> CertificateRecord:
    values: dict[str, object] = {
        "serial": 1, "bundle_id": "com.example.app", "team_id": "ABCDE12345", "environment": "sandbox",
        "topics": ("com.example.app",), "not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=1),
        "fingerprint_sha256": "00", "der": b"", "revoked_at": None, **kw}
    return CertificateRecord(**values)  # type: ignore[arg-type]


def test_certificate_status_on_the_simulator_clock() -> None:
    """docs/apns-protocol.md §6: expired or revoked certificates are refused; revocation is what the portal shows."""
    assert certificate_status(certificate(), NOW) == "valid"
    assert certificate_status(certificate(), NOW + timedelta(days=2)) == "expired"
    assert certificate_status(certificate(), NOW - timedelta(days=2)) == "not yet valid"
    revoked = certificate(revoked_at=NOW - timedelta(hours=1))
    assert certificate_status(revoked, NOW + timedelta(days=2)) == "revoked"
    assert certificate_status(certificate(revoked_at=NOW + timedelta(hours=1)), NOW) == "valid"  # not yet


def test_key_status() -> None:
    """docs/apns-protocol.md §5: keys do not expire; a revoked key's tokens are refused."""
    key = AuthKeyRecord(key_id="K", team_id="T", public_key_pem=b"", environment=None, created_at=NOW,
                        revoked_at=None)
    assert key_status(key, NOW + timedelta(days=3650)) == "valid"
    assert key_status(AuthKeyRecord(**{**key.__dict__, "revoked_at": NOW}), NOW) == "revoked"


def one_phone() -> tuple[Registry, JourneyLog, Delivery]:
    """A registry in memory with one activated phone, DEV-1, and the journey log and delivery beside it."""
    registry = Registry(None)
    clock = Clock()
    journeys = JourneyLog(clock.time)
    registry.activate_device("DEV-1", "Test iPhone", NOW)
    return registry, journeys, Delivery(registry, journeys, clock)


def test_phone_view_reports_badge_and_permission_only_from_what_the_phone_said() -> None:
    """docs/device-side.md §2: the badge is absolute (a number sets it, absent leaves it); APNs is told no
    permission."""
    registry, journeys, delivery = one_phone()
    token = registry.app_token("DEV-1", "com.example.app", "sandbox", NOW).token
    [phone] = phones_view(registry, delivery, journeys)["phones"]
    assert phone["online"] == {"sandbox": False, "production": False}
    [app] = phone["apps"]
    assert (app["badge"], app["permission"], app["last_notification"]) == (None, "unknown", None)

    def push(apns_id: str, *stages: tuple[str, dict[str, object]]) -> None:
        journeys.begin(Journey(apns_id=apns_id, token=token.upper(), topic="com.example.app",
                               environment="sandbox", status=200), "accepted")
        for stage, detail in stages:
            journeys.add(apns_id, stage, **detail)

    push("a", ("not_presented", {"why": "the app did not register for alerts"}))
    [app] = phones_view(registry, delivery, journeys)["phones"][0]["apps"]
    assert app["badge"] is None and "did not register for alerts" in app["permission"]
    # The phone's own words beside the hint, for a page to say in its language (docs/admin-api.md, phones).
    assert app["permission_why"] == "the app did not register for alerts"
    push("b", ("presented", {"alert": "x", "sound": None, "badge": 4}))
    push("c", ("presented", {"alert": "y", "sound": None, "badge": None}))  # no badge key: unchanged
    delivery.attach("DEV-1", "sandbox", lambda message: None)
    [phone] = phones_view(registry, delivery, journeys)["phones"]
    [app] = phone["apps"]
    assert (app["badge"], app["badge_note"]) == (4, "last number a push set")
    assert app["permission"].startswith("allows") and app["last_notification"]["apns_id"] == "c"
    assert app["permission_why"] is None  # something was presented: no reasons to say
    assert phone["online"] == {"sandbox": True, "production": False}
    registry.close()


def test_phone_view_shows_what_the_phone_reported_and_marks_it_simulator_only() -> None:
    """[sim] AppStatus (0x32): the reported permission, options, badge and state replace APNs' hints, for the
    app's live token only; another app, or a deleted copy's token, keeps the hints (docs/device-side.md §2.6)."""
    registry, journeys, delivery = one_phone()
    reports = AppReports()
    registry.app_token("DEV-1", "com.example.app", "sandbox", NOW)
    registry.app_token("DEV-1", "com.example.other", "sandbox", NOW)
    reports.record("DEV-1", AppStatus(bundle_id="com.example.app", environment="sandbox", permission="authorized",
                                      options=("alert", "badge"), badge=3, state="foreground"), 1234.5)
    reports.record("DEV-1", AppStatus(bundle_id="com.example.app", environment="production", permission="denied",
                                      state="background"), 1234.5)  # another build: not this token's environment
    apps = {a["bundle_id"]: a for a in phones_view(registry, delivery, journeys, reports)["phones"][0]["apps"]}
    mine, other = apps["com.example.app"], apps["com.example.other"]
    assert (mine["permission"], mine["permission_options"], mine["badge"], mine["app_state"]) == (
        "authorized", ["alert", "badge"], 3, "foreground")
    assert (mine["reported"], mine["reported_at"], mine["badge_note"]) == (True, 1234.5, "reported by the phone")
    assert (other["reported"], other["permission"], other["app_state"], other["permission_options"]) == (
        False, "unknown", "unknown", None)
    [unreported] = phones_view(registry, delivery, journeys)["phones"][0]["apps"][:1]  # no reports at all
    assert unreported["reported"] is False

    token = mine["token"]
    registry.mark_uninstalled(token, NOW, NOW)
    [gone] = [a for a in phones_view(registry, delivery, journeys, reports)["phones"][0]["apps"]
              if a["token"] == token]
    assert gone["reported"] is False  # the report describes the app installed now, not this old token
    registry.close()


def test_app_reports_keep_the_latest_bounded_and_forget_deleted_apps_and_replaced_devices() -> None:
    reports = AppReports(limit=2)

    def status(bundle: str, badge: int = 0) -> AppStatus:
        return AppStatus(bundle_id=bundle, environment="sandbox", permission="denied", badge=badge, state="background")

    reports.record("D1", status("a"), 1.0)
    reports.record("D1", status("a", badge=5), 2.0)
    entry = reports.get("D1", "a", "sandbox")
    assert entry is not None and (entry.badge, entry.at) == (5, 2.0) and len(reports) == 1
    reports.record("D2", status("b"), 3.0)
    reports.record("D1", status("c"), 4.0)  # over the limit: the one reported longest ago goes
    assert reports.get("D1", "a", "sandbox") is None and len(reports) == 2
    reports.forget("D2", "b", "sandbox")
    assert reports.get("D2", "b", "sandbox") is None
    reports.forget_device("D1")
    assert len(reports) == 0
    with pytest.raises(ValueError, match="at least 1"):
        AppReports(limit=0)


@pytest.mark.parametrize(("body", "says"), [
    ("x", "JSON object"), ({"device_token": 1}, "device_token"), ({"device_token": "ab", "topic": True}, "topic"),
    ({"device_token": "ab", "payload": [1]}, "payload"), ({"device_token": "ab", "environment": None}, "environment"),
    ({"device_token": "ab\ud800"}, "not valid Unicode"), ({"device_token": "ab", "payload": {"k": "\udfff"}},
                                                          "not valid Unicode"),
])
def test_console_form_errors_say_which_field(body: object, says: str) -> None:
    with pytest.raises(ConsoleError, match=says):
        parse_console_push(body)


def test_console_form_becomes_the_request_a_provider_would_send() -> None:
    """docs/apns-protocol.md §2.1: the same path and apns-* headers; an object payload is sent as compact JSON."""
    push = parse_console_push({"device_token": " AB12 ", "topic": "com.example.app", "priority": 5,
                               "expiration": 0, "collapse_id": "", "payload": {"aps": {"alert": "é"}}})
    request = push.to_request()
    assert (push.environment, request.path, request.body) == ("sandbox", "/3/device/AB12",
                                                              '{"aps":{"alert":"é"}}'.encode())
    assert dict(request.headers) == {"apns-topic": "com.example.app", "apns-priority": "5", "apns-expiration": "0"}
    assert parse_console_push({"device_token": "ab", "payload": "not json"}).payload == b"not json"


def test_phone_view_lists_live_tokens_first_newest_first_and_marks_the_dead() -> None:
    """docs/dashboard.md §4: after an uninstall and a reinstall the new token comes first, marked
    live; the old one (410 Unregistered) follows, marked dead, whatever order the registry returns."""
    registry, journeys, delivery = one_phone()
    first = registry.app_token("DEV-1", "com.example.app", "sandbox", NOW).token
    other = registry.app_token("DEV-1", "com.example.other", "sandbox", NOW + timedelta(seconds=1)).token
    registry.mark_uninstalled(first, NOW + timedelta(seconds=2), NOW + timedelta(seconds=2))
    again = registry.app_token("DEV-1", "com.example.app", "sandbox", NOW + timedelta(seconds=3)).token
    apps = phones_view(registry, delivery, journeys)["phones"][0]["apps"]
    assert [(a["token"], a["live"], a["token_state"]) for a in apps] == [
        (again, True, "active"), (other, True, "active"), (first, False, "uninstalled")]
    registry.close()


def test_phone_view_hints_in_the_readers_language_and_states_as_words_a_program_reads() -> None:
    """docs/admin-api.md §2: sentences follow ``language``; token_state and app_state do not."""
    registry, journeys, delivery = one_phone()
    token = registry.app_token("DEV-1", "com.example.app", "sandbox", NOW).token
    journeys.begin(Journey(apns_id="a", token=token, topic="com.example.app", environment="sandbox", status=200),
                   "accepted")
    journeys.add("a", "presented", alert="x", sound=None, badge=2)
    [english] = phones_view(registry, delivery, journeys)["phones"][0]["apps"]
    [chinese] = phones_view(registry, delivery, journeys, language="zh")["phones"][0]["apps"]
    assert english["badge_note"] == "last number a push set" and chinese["badge_note"] == "最近一条推送设置的数字"
    assert chinese["permission"] == "至少允许部分通知（已有推送被展示）"
    assert (chinese["token_state"], chinese["app_state"], chinese["badge"]) == ("active", "unknown", 2)
    registry.close()


def test_console_errors_carry_their_msgid_and_read_in_either_language() -> None:
    """docs/admin-api.md §2: str() is English (logs, old clients); the page asks in its language."""
    with pytest.raises(ConsoleError) as caught:
        parse_console_push({"device_token": "ab", "colour": "red"})
    assert str(caught.value).startswith("unknown key(s) colour: use environment, device_token")
    assert caught.value.in_language("en") == str(caught.value)
    assert caught.value.in_language("zh").startswith("未知的字段 colour：可用的字段是 environment, device_token")

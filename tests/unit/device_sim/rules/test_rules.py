"""Pure rules of the simulated iPhone: permission, app states and background throttling, presentation narrowing,
and when the service extension runs (device-side.md §2.2-§2.6, §6 rules 17, 20, 21, 23, 24, 26, 27)."""

from __future__ import annotations

from typing import Any

import pytest

from device_sim.app.service_extension import extension_applies
from device_sim.rules import authorization as auth
from device_sim.rules import background
from device_sim.rules.presentation import (
    MAX_BADGE,
    Presentation,
    Switches,
    badge_after,
    check_presentation_options,
    denied,
    in_foreground_legacy,
    offline_error,
    on_lock_screen,
    present,
    provisional,
    simulator_error,
    under_switches,
    with_options,
)

ALL = ("alert", "sound", "badge")
FULL = {"aps": {"alert": {"title": "Hi", "body": "there"}, "sound": "default", "badge": 3}}
BACKGROUND = {"aps": {"content-available": 1}, "sync": "inbox"}


# -- permission (rule 24) ---------------------------------------------------------------------------------


def test_first_request_prompts_and_later_requests_return_the_stored_answer() -> None:
    """device-side.md §6 rule 24, §2.2: the first requestAuthorization prompts; later ones never do."""
    first = auth.request(auth.Authorization(), ALL, provisional=False, user_response="allow")
    assert first.prompted and first.granted
    assert first.authorization == auth.Authorization(status=auth.AUTHORIZED, options=ALL)
    again = auth.request(first.authorization, ("alert",), provisional=False, user_response="deny")
    assert not again.prompted and again.granted and again.authorization == first.authorization


def test_denied_is_stored_and_never_asked_again() -> None:
    """device-side.md §6 rule 24, §2.6: a denial is remembered; the app cannot prompt again."""
    first = auth.request(auth.Authorization(), ALL, provisional=False, user_response="deny")
    assert first.prompted and not first.granted and first.authorization.status == auth.DENIED
    again = auth.request(first.authorization, ALL, provisional=False, user_response="allow")
    assert not again.prompted and not again.granted and again.authorization.status == auth.DENIED


def test_provisional_is_granted_quietly_and_a_full_request_then_prompts() -> None:
    """device-side.md §6 rule 24, §2.2: .provisional grants without a prompt; asking for full later prompts."""
    quiet = auth.request(auth.Authorization(), ALL, provisional=True, user_response="deny")
    assert not quiet.prompted and quiet.granted and quiet.authorization.status == auth.PROVISIONAL
    full = auth.request(quiet.authorization, ALL, provisional=False, user_response="deny")
    assert full.prompted and not full.granted and full.authorization.status == auth.DENIED


def test_authorization_round_trips_and_rejects_bad_input() -> None:
    value = auth.Authorization(status=auth.PROVISIONAL, options=("alert", "badge"))
    assert auth.Authorization.from_json(value.as_json()) == value
    assert auth.Authorization.from_json({"status": "bogus"}).status == auth.NOT_DETERMINED
    with pytest.raises(ValueError, match="unknown authorization option"):
        auth.request(auth.Authorization(), ("vibrate",), provisional=False, user_response="allow")
    with pytest.raises(ValueError, match="user_response"):
        auth.check_user_response("maybe")


@pytest.mark.parametrize(("uninstalled_at", "now", "kept"), [
    (1000.0, 1000.0 + 3600, True), (1000.0, 1000.0 + 86_400, False), (None, 5.0, False)])
def test_reinstall_within_a_day_keeps_the_answer(uninstalled_at: float | None, now: float, kept: bool) -> None:
    """device-side.md §6 rule 24, §2.6: the prompt is not shown again unless the app stayed deleted a day."""
    assert auth.kept_after_reinstall(uninstalled_at, now) is kept


# -- presentation narrowing (rules 17, 24, 26) ------------------------------------------------------------


def test_denied_delivers_silently_and_says_why() -> None:
    """device-side.md §6 rule 24, §2.6: denied ⇒ no alert, sound or badge, and the reason is recorded."""
    p = denied(present(FULL, ()))
    assert not p.presented and p.why_not == ("permission denied: delivered silently",)
    nothing = present({"aps": {"content-available": 1}}, ALL)
    assert denied(nothing) == nothing  # nothing to deny: keep the real reason


def test_provisional_goes_to_notification_center_without_sound_or_badge() -> None:
    """device-side.md §6 rule 24, §2.2: provisional notifications go to Notification Center only."""
    p = provisional(present(FULL, ALL))
    assert p.alert == FULL["aps"]["alert"] and (p.sound, p.badge) == (None, None)
    assert p.where == "notification_center" and len(p.why_not) == 2


@pytest.mark.parametrize(("options", "expected", "where"), [
    ({"banner", "sound", "badge"}, {"alert": FULL["aps"]["alert"], "sound": "default", "badge": 3}, "banner"),
    ({"list"}, {"alert": FULL["aps"]["alert"], "sound": None, "badge": None}, "notification_center"),
    ({"alert", "sound"}, {"alert": FULL["aps"]["alert"], "sound": "default", "badge": None}, "banner"),
    ({"badge"}, {"alert": None, "sound": None, "badge": 3}, None),
])
def test_will_present_options_choose_what_shows(options: set[str], expected: dict[str, Any],
                                                where: str | None) -> None:
    """device-side.md §6 rule 17, §2.2: in the foreground only willPresent's options are shown."""
    p = with_options(present(FULL, ALL), frozenset(options))
    assert p.as_json() == expected and p.where == where


def test_will_present_none_shows_nothing() -> None:
    """device-side.md §6 rule 17: none (or a delegate without willPresent) shows nothing."""
    p = with_options(present(FULL, ALL), frozenset())
    assert not p.presented and p.why_not[-1] == "app in foreground, willPresent returned none"
    with pytest.raises(ValueError, match="unknown presentation option"):
        check_presentation_options(["popup"])


def test_legacy_foreground_shows_nothing() -> None:
    """device-side.md §2.1: legacy API, app in front: the system shows nothing; the app draws its own UI."""
    p = in_foreground_legacy(present(FULL, ALL))
    assert not p.presented and "legacy API" in p.why_not[-1]


@pytest.mark.parametrize(("level", "sound", "where"), [
    ("passive", None, "notification_center"), ("active", "default", "banner"),
    ("time-sensitive", "default", "banner"), ("critical", "default", "banner"), ("loud", "default", "banner")])
def test_interruption_levels(level: str, sound: str | None, where: str) -> None:
    """device-side.md §6 rule 26, §2.5: passive is list-only and silent; the others present normally."""
    p = present({"aps": {"alert": "x", "sound": "default", "interruption-level": level}}, ALL)
    assert (p.sound, p.where) == (sound, where)
    assert p.interruption_level == (level if level != "loud" else "active")


@pytest.mark.parametrize(("level", "critical_allowed", "switches", "sound", "where"), [
    ("active", False, Switches(focus=True), None, "notification_center"),
    ("time-sensitive", False, Switches(focus=True), "default", "banner"),
    ("time-sensitive", False, Switches(focus=True, muted=True), None, "banner"),
    ("critical", True, Switches(focus=True, muted=True), "default", "banner"),
    ("critical", False, Switches(focus=True), None, "notification_center"),
    ("active", False, Switches(muted=True), None, "banner"),
    ("active", False, Switches(), "default", "banner"),
])
def test_focus_and_mute_against_interruption_levels(level: str, critical_allowed: bool, switches: Switches,
                                                    sound: str | None, where: str) -> None:
    """device-side.md §6 rule 26, §2.5: time-sensitive breaks Focus; critical (when allowed) breaks Focus and
    mute; the rest go quietly to Notification Center under Focus and play no sound when muted."""
    p = present({"aps": {"alert": "x", "sound": "default", "interruption-level": level}}, ALL)
    q = under_switches(p, switches, critical_allowed=critical_allowed)
    assert (q.sound, q.where) == (sound, where)
    assert q.alert == "x" and (q == p) is (sound == "default" and where == "banner")


@pytest.mark.parametrize(("payload", "switches", "where"), [
    (FULL, Switches(locked=True), "lock_screen"),
    (FULL, Switches(), "banner"),
    ({"aps": {"alert": "x", "interruption-level": "passive"}}, Switches(locked=True), "notification_center"),
    (FULL, Switches(locked=True, focus=True), "notification_center"),
    ({"aps": {"badge": 2}}, Switches(locked=True), None),
])
def test_a_locked_phone_shows_alerts_on_the_lock_screen(payload: dict[str, Any], switches: Switches,
                                                        where: str | None) -> None:
    """device-side.md §6 rule 16, §2.3: locked, an alert goes to the Lock Screen instead of a banner, with its
    sound and badge as usual; a quiet delivery (passive, Focus) still only reaches Notification Center."""
    p = on_lock_screen(under_switches(present(payload, ALL), switches), switches)
    assert p.where == where
    if payload is FULL and not switches.focus:
        assert (p.sound, p.badge) == ("default", 3)


@pytest.mark.parametrize(("state", "after"), [
    ("foreground", "background"), ("background", "background"), ("not_running", "not_running"),
    ("force_quit", "force_quit")])
def test_locking_sends_the_app_in_front_to_the_background(state: str, after: str) -> None:
    """device-side.md §6 rule 16, §2.3: iOS suspends the foreground app when the phone locks."""
    assert background.state_after_lock(state) == after


def test_registration_errors_are_ios_errors() -> None:
    """device-side.md §4, §6 rules 9-10: the simulator's 3010 and the offline failure."""
    error = simulator_error()
    assert (error.domain, error.code, error.description) == (
        "NSCocoaErrorDomain", 3010, "remote notifications are not supported in the simulator")
    assert offline_error().as_json() == {"domain": "NSURLErrorDomain", "code": -1009,
                                         "description": "The Internet connection appears to be offline."}


# -- app states and background pushes (rules 20, 21, 23) --------------------------------------------------


@pytest.mark.parametrize(("payload", "push_type", "expected"), [
    (BACKGROUND, "background", True), (BACKGROUND, None, True),
    ({"aps": {"content-available": 1, "alert": "x"}}, None, False),
    ({"aps": {"content-available": 1}}, "alert", False), ({"aps": {}}, None, False), (None, None, False)])
def test_what_is_a_background_push(payload: Any, push_type: str | None, expected: bool) -> None:
    """device-side.md §2.4: aps holds only content-available: 1."""
    assert background.is_background_push(payload, push_type) is expected


def test_background_push_needs_the_mode_and_no_force_quit() -> None:
    """device-side.md §6 rules 20 and 23: no background mode or a force-quit app ⇒ not delivered."""
    throttle: background.BackgroundThrottle[str] = background.BackgroundThrottle()
    no_mode = throttle.decide("a", state=background.BACKGROUND, background_mode=False, now=0)
    assert no_mode.action == background.DROP and "background mode" in no_mode.why
    quit_ = throttle.decide("a", state=background.FORCE_QUIT, background_mode=True, now=0)
    assert quit_.action == background.DROP and "force-quit" in quit_.why
    assert throttle.decide("a", state=background.NOT_RUNNING, background_mode=True, now=0).action == background.DELIVER


def test_throttle_holds_one_newest_wins_and_hands_it_over_at_launch() -> None:
    """device-side.md §6 rule 21, §2.4: over budget, hold one (a newer replaces it); launch delivers it."""
    throttle: background.BackgroundThrottle[str] = background.BackgroundThrottle(
        background.BackgroundBudget(per_hour=2))
    decide = lambda item, now: throttle.decide(item, state=background.BACKGROUND, background_mode=True, now=now)  # noqa: E731
    assert [decide("1", 0).action, decide("2", 10).action] == [background.DELIVER, background.DELIVER]
    third = decide("3", 20)
    assert third.action == background.HOLD and "2 background wakes in the last hour" in third.why and not third.replaced
    fourth = decide("4", 30)
    assert fourth.action == background.HOLD and fourth.replaced and throttle.held == "4"
    assert throttle.take_held() == "4" and throttle.held is None
    assert decide("5", 3601).action == background.DELIVER  # an hour after the first wake, budget again


def test_throttle_daily_budget_and_foreground_and_xcode() -> None:
    """device-side.md §6 rule 21, §2.4: a daily budget too; the foreground spends none; Xcode disables it."""
    throttle: background.BackgroundThrottle[str] = background.BackgroundThrottle(background.BackgroundBudget(per_hour=5,
                                                                                                 per_day=2))
    def action(item: str, state: str, now: float) -> str:
        return throttle.decide(item, state=state, background_mode=True, now=now).action

    for now in (0, 4000):
        assert action("x", background.BACKGROUND, now) == background.DELIVER
    held = throttle.decide("x", state=background.BACKGROUND, background_mode=True, now=8000)
    assert held.action == background.HOLD and "daily background budget of 2" in held.why
    assert action("y", background.FOREGROUND, 8001) == background.DELIVER
    assert action("z", background.BACKGROUND, 86_401) == background.DELIVER
    xcode: background.BackgroundThrottle[str] = background.BackgroundThrottle(background.BackgroundBudget(per_hour=0),
                                                                     under_xcode=True)
    assert xcode.decide("x", state=background.BACKGROUND, background_mode=True, now=0).action == background.DELIVER
    with pytest.raises(ValueError):
        background.check_state("asleep")


# -- the service extension's trigger (rule 27) -------------------------------------------------------------


@pytest.mark.parametrize(("aps", "alerts_allowed", "runs"), [
    ({"mutable-content": 1, "alert": {"title": "T"}}, True, True),
    ({"mutable-content": 1, "alert": "body text"}, True, True),
    ({"mutable-content": 1, "alert": {"title": "T"}}, False, False),
    ({"mutable-content": 1, "alert": {"launch-image": "x.png"}}, True, False),
    ({"mutable-content": 1, "badge": 1}, True, False),
    ({"alert": {"title": "T"}}, True, False),
])
def test_extension_runs_only_for_mutable_content_with_an_alert(aps: dict[str, Any], alerts_allowed: bool,
                                                               runs: bool) -> None:
    """device-side.md §6 rule 27, §2.2: mutable-content 1, an alert title/subtitle/body, alerts allowed."""
    assert extension_applies({"aps": aps}, alerts_allowed=alerts_allowed) is runs


def test_presentation_default_compares_equal() -> None:
    assert Presentation() == Presentation(alert=None) and Presentation().where is None


@pytest.mark.parametrize("badge", [MAX_BADGE + 1, 4294967296, 10**30])
def test_a_badge_the_phone_cannot_hold_is_not_shown(badge: int) -> None:
    """docs/choices.md "Badge numbers": above MAX_BADGE the badge is refused like a negative one, with the reason."""
    p = present({"aps": {"alert": "x", "badge": badge}}, ALL)
    assert p.badge is None and p.alert == "x" and any("above" in why for why in p.why_not)
    assert present({"aps": {"badge": MAX_BADGE}}, ALL).badge == MAX_BADGE
    assert badge_after(7, Presentation(badge=badge)) == 7

"""What the phone shows for a notification: pure rules, no I/O (docs/device-side.md §2.5, §6 rules 17-18,
24-26, 28).

``present`` is what the system shows for an app that is not in front (the system, not the app, presents):
an alert only if the app may show alerts, a sound only if it may play sounds, the badge only if it may set
badges. Badge is an absolute number: a number sets it, 0 clears it, an absent key leaves it unchanged. A
notification the user did not allow is still delivered, silently (§2.6). The helpers below then narrow that
for permission (denied, provisional), for the foreground (``willPresent``'s options) and for interruption
levels. Registration failures use the exact iOS errors of §4, and which APNs environment an app's
``aps-environment`` entitlement means (``ENTITLEMENTS``, ``entitlement_for``) is here too (§3), since
registration fails without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from device_sim.errors import DeviceSimError

NOTIFICATION_TYPES = ("alert", "sound", "badge")
# aps-environment entitlement → courier environment (§3: development profile ⇒ sandbox).
ENTITLEMENTS = {"development": "sandbox", "production": "production"}
_ENTITLEMENT_ALIASES = {"development": "development", "sandbox": "development", "production": "production"}
# UNNotificationPresentationOptions a willPresent handler may return (§2.2); "alert" is the pre-iOS 14 name.
PRESENTATION_OPTIONS = ("banner", "list", "sound", "badge", "alert")
INTERRUPTION_LEVELS = ("passive", "active", "time-sensitive", "critical")
# The largest badge the phone shows (docs/choices.md "Badge numbers"). Apple documents a number and no bound;
# iOS keeps it in an NSInteger, 32 bits on older devices, and the courier's [sim] AppStatus carries 4 bytes.
# A bigger value is refused like a negative one (not shown), so no push can leave a number the phone cannot
# encode, report or save.
MAX_BADGE = 2**31 - 1
BANNER = "banner"
NOTIFICATION_CENTER = "notification_center"
LOCK_SCREEN = "lock_screen"


class RegistrationError(DeviceSimError):
    """``didFailToRegisterForRemoteNotificationsWithError``'s NSError: domain, code, description."""

    def __init__(self, domain: str, code: int, description: str) -> None:
        super().__init__(f'Error Domain={domain} Code={code} "{description}"')
        self.domain = domain
        self.code = code
        self.description = description

    def as_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "code": self.code, "description": self.description}


def entitlement_for(environment: str | None) -> str | None:
    """"development" / "production" from an aps-environment value or an APNs environment name."""
    if environment is None:
        return None
    try:
        return _ENTITLEMENT_ALIASES[environment]
    except KeyError:
        raise ValueError(f"unknown environment {environment!r}: use development (sandbox) or production") from None


def missing_entitlement_error() -> RegistrationError:
    """No aps-environment entitlement (Push capability off): NSCocoaErrorDomain 3000, iOS's own words (§4)."""
    return RegistrationError("NSCocoaErrorDomain", 3000,
                             "no valid \u201caps-environment\u201d entitlement string found for application")


def simulator_error() -> RegistrationError:
    """An iOS Simulator from before Xcode 14 / iOS 16: NSCocoaErrorDomain 3010, iOS's own words (§4, rule 10)."""
    return RegistrationError("NSCocoaErrorDomain", 3010, "remote notifications are not supported in the simulator")


def offline_error() -> RegistrationError:
    """First registration with no network, in the "fail" mode (§4, rule 9). Apple documents the failure but
    not the error; this is iOS's usual no-network NSError (our guess, [G])."""
    return RegistrationError("NSURLErrorDomain", -1009, "The Internet connection appears to be offline.")


@dataclass(frozen=True, kw_only=True)
class Presentation:
    """What the user saw: ``alert`` (string or dictionary, as sent), ``sound`` (name), ``badge`` (the number
    the icon was set to; 0 = cleared); None for each part not shown, and ``why_not`` for each reason.
    ``notification_center_only``: the alert went to Notification Center without a banner (provisional
    permission, a passive interruption level, or a foreground ``willPresent`` returning only ``list``).
    ``lock_screen``: the phone was locked, so the alert appeared on the Lock Screen instead of as a banner."""

    alert: Any = None
    sound: str | None = None
    badge: int | None = None
    why_not: tuple[str, ...] = ()
    notification_center_only: bool = False
    interruption_level: str = "active"
    lock_screen: bool = False

    @property
    def presented(self) -> bool:
        return self.alert is not None or self.sound is not None or self.badge is not None

    @property
    def where(self) -> str | None:
        """Where the alert appeared: "banner", "lock_screen", "notification_center", or None (no alert shown).
        A quiet delivery stays in Notification Center even on a locked phone: it does not light the screen."""
        if self.alert is None:
            return None
        if self.notification_center_only:
            return NOTIFICATION_CENTER
        return LOCK_SCREEN if self.lock_screen else BANNER

    def as_json(self) -> dict[str, Any]:
        return {"alert": self.alert, "sound": self.sound, "badge": self.badge}


def _sound_name(sound: Any) -> str | None:
    if isinstance(sound, str) and sound:
        return sound
    if isinstance(sound, dict):  # critical alert: {"critical": 1, "name": ..., "volume": ...}
        name = sound.get("name", "default")
        return name if isinstance(name, str) and name else "default"
    return None


def present(payload: Any, types: frozenset[str] | tuple[str, ...], *, push_type: str | None = None) -> Presentation:
    """Decide what the system presents for ``payload`` given the types the app registered for."""
    allowed = frozenset(types)
    if push_type == "voip":
        return Presentation(why_not=("VoIP pushes go straight to the app and are never displayed",))
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        return Presentation(why_not=("the payload has no aps dictionary",))
    aps: dict[str, Any] = payload["aps"]
    why: list[str] = []
    alert = aps.get("alert")
    if alert in (None, "", {}):
        alert = None
    elif not isinstance(alert, str | dict):
        alert = None
        why.append("alert must be a string or a dictionary")
    elif "alert" not in allowed:
        alert = None
        why.append("the app did not register for alerts")
    sound = _sound_name(aps.get("sound"))
    if sound is not None and "sound" not in allowed:
        sound = None
        why.append("the app did not register for sounds")
    level = aps.get("interruption-level", "active")
    if level not in INTERRUPTION_LEVELS:
        level = "active"  # APNs passes unknown values through; iOS falls back to the default level [G]
    if sound is not None and level == "passive":
        sound = None
        why.append("passive interruption level: no sound")
    badge: int | None = None
    raw_badge = aps.get("badge")
    if raw_badge is not None:
        if isinstance(raw_badge, bool) or not isinstance(raw_badge, int) or raw_badge < 0:
            why.append("badge must be a non-negative number")
        elif raw_badge > MAX_BADGE:
            why.append(f"badge {raw_badge} is above {MAX_BADGE}, the largest the phone shows")
        elif "badge" not in allowed:
            why.append("the app did not register for badges")
        else:
            badge = raw_badge
    if alert is None and sound is None and badge is None and not why:
        if aps.get("content-available") == 1:
            why.append("background notification: handed to the app, nothing to show")
        else:
            why.append("nothing to present (no alert, sound or badge)")
    return Presentation(alert=alert, sound=sound, badge=badge, why_not=tuple(why),
                        notification_center_only=level == "passive" and alert is not None, interruption_level=level)


def _has_something(p: Presentation) -> bool:
    return p.presented or any("did not register" in w for w in p.why_not)


def denied(p: Presentation) -> Presentation:
    """The user denied permission: delivered silently, nothing shown (§2.6, rule 24)."""
    if not _has_something(p):
        return p
    return Presentation(why_not=("permission denied: delivered silently",), interruption_level=p.interruption_level)


def provisional(p: Presentation) -> Presentation:
    """Provisional permission: delivered quietly to Notification Center, no banner, sound or badge (§2.2)."""
    why = list(p.why_not)
    if p.sound is not None:
        why.append("provisional permission: delivered quietly, no sound")
    if p.badge is not None:
        why.append("provisional permission: delivered quietly, no badge")
    return replace(p, sound=None, badge=None, notification_center_only=p.alert is not None, why_not=tuple(why))


def check_presentation_options(options: Iterable[str] | None) -> frozenset[str]:
    chosen = frozenset(options or ())
    bad = sorted(chosen - frozenset(PRESENTATION_OPTIONS))
    if bad:
        raise ValueError(f"unknown presentation option(s) {', '.join(bad)}: choose from "
                         f"{', '.join(PRESENTATION_OPTIONS)}")
    return chosen


def with_options(p: Presentation, options: frozenset[str]) -> Presentation:
    """The app is in front and ``willPresent`` returned ``options``: show only those parts (§2.2, rule 17)."""
    if not options:
        return Presentation(why_not=(*p.why_not, "app in foreground, willPresent returned none"),
                            interruption_level=p.interruption_level)
    why = list(p.why_not)
    alert = p.alert
    shown_as_banner = bool(options & {"banner", "alert"})
    if alert is not None and not shown_as_banner and "list" not in options:
        alert = None
        why.append("app in foreground, willPresent did not ask for banner or list")
    sound = p.sound
    if sound is not None and "sound" not in options:
        sound = None
        why.append("app in foreground, willPresent did not ask for sound")
    badge = p.badge
    if badge is not None and "badge" not in options:
        badge = None
        why.append("app in foreground, willPresent did not ask for badge")
    nc_only = alert is not None and (p.notification_center_only or not shown_as_banner)
    return replace(p, alert=alert, sound=sound, badge=badge, why_not=tuple(why), notification_center_only=nc_only)


@dataclass
class Switches:
    """The user's switches on the phone, flipped at any time: ``focus`` (a Focus / Do Not Disturb is on),
    ``muted`` (the ring/silent switch is on silent) and ``locked`` (set by ``Phone.lock()``/``unlock()``,
    which also move the app in front to the background)."""

    focus: bool = False
    muted: bool = False
    locked: bool = False


def on_lock_screen(p: Presentation, switches: Switches) -> Presentation:
    """A locked phone shows an alert on the Lock Screen instead of as a banner (§2.3, rule 16); Notification
    Center keeps it as usual, and sound and badge are unchanged (the lock is no Focus and no mute switch)."""
    if not switches.locked or p.alert is None:
        return p
    return replace(p, lock_screen=True)


def under_switches(p: Presentation, switches: Switches, *, critical_allowed: bool = False,
                   time_sensitive_allowed: bool = True) -> Presentation:
    """Interruption levels against Focus and mute (§2.5, rule 26): time-sensitive breaks through Focus (with
    its capability); critical (with its entitlement and the user's permission) breaks through both and plays
    its sound; everything else arrives quietly in Notification Center under Focus, and silently when muted."""
    level = p.interruption_level
    if level == "critical" and critical_allowed:
        return p
    why = list(p.why_not)
    alert, sound, nc_only = p.alert, p.sound, p.notification_center_only
    breaks_focus = level == "time-sensitive" and time_sensitive_allowed
    if switches.focus and not breaks_focus:
        if alert is not None and not nc_only:
            nc_only = True
            why.append("Focus is on: delivered quietly to Notification Center")
        if sound is not None:
            sound = None
            why.append("Focus is on: no sound")
    if switches.muted and sound is not None:
        sound = None
        why.append("the phone is muted: no sound")
    return replace(p, sound=sound, notification_center_only=nc_only and alert is not None, why_not=tuple(why))


def in_foreground_legacy(p: Presentation) -> Presentation:
    """The legacy API with the app in front: the system shows nothing, the app shows its own UI (§2.1)."""
    if not p.presented:
        return p
    return Presentation(why_not=(*p.why_not, "app in foreground (legacy API): the app shows its own UI"),
                        interruption_level=p.interruption_level)


def badge_after(current: int, presentation: Presentation) -> int:
    """The icon's badge after a notification: set by a number, cleared by 0, unchanged when absent (or out of
    range: ``present`` never lets one through, and this guard keeps a hand-made Presentation from doing it)."""
    badge = presentation.badge
    return current if badge is None or not 0 <= badge <= MAX_BADGE else badge

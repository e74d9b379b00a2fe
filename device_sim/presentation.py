"""What the phone shows for a notification: pure rules, no I/O (device-side.md §2.5, §6 rules 17-18, 25, 28).

The app is modelled in the background (the common case: the system, not the app, presents). The system
shows an alert only if the app registered for alerts, plays a sound only if it registered for sounds, and
sets the badge only if it registered for badges. Badge is an absolute number: a number sets it, 0 clears
it, an absent key leaves it unchanged. A notification the user did not allow is still delivered, silently
(§2.6). Registration failures use the exact iOS errors of §4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOTIFICATION_TYPES = ("alert", "sound", "badge")
# aps-environment entitlement → courier environment (§3: development profile ⇒ sandbox).
ENTITLEMENTS = {"development": "sandbox", "production": "production"}


class RegistrationError(Exception):
    """``didFailToRegisterForRemoteNotificationsWithError``'s NSError: domain, code, description."""

    def __init__(self, domain: str, code: int, description: str) -> None:
        super().__init__(f'Error Domain={domain} Code={code} "{description}"')
        self.domain = domain
        self.code = code
        self.description = description

    def as_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "code": self.code, "description": self.description}


def missing_entitlement_error() -> RegistrationError:
    """No aps-environment entitlement (Push capability off): NSCocoaErrorDomain 3000, iOS's own words (§4)."""
    return RegistrationError("NSCocoaErrorDomain", 3000,
                             "no valid \u201caps-environment\u201d entitlement string found for application")


@dataclass(frozen=True, kw_only=True)
class Presentation:
    """What the user saw: ``alert`` (string or dictionary, as sent), ``sound`` (name), ``badge`` (the number
    the icon was set to; 0 = cleared); None for each part not shown, and ``why_not`` for each reason."""

    alert: Any = None
    sound: str | None = None
    badge: int | None = None
    why_not: tuple[str, ...] = ()

    @property
    def presented(self) -> bool:
        return self.alert is not None or self.sound is not None or self.badge is not None

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
    elif sound is not None and aps.get("interruption-level") == "passive":
        sound = None
        why.append("passive interruption level: no sound")
    badge: int | None = None
    raw_badge = aps.get("badge")
    if raw_badge is not None:
        if isinstance(raw_badge, bool) or not isinstance(raw_badge, int) or raw_badge < 0:
            why.append("badge must be a non-negative number")
        elif "badge" not in allowed:
            why.append("the app did not register for badges")
        else:
            badge = raw_badge
    if alert is None and sound is None and badge is None and not why:
        if aps.get("content-available") == 1:
            why.append("background notification: handed to the app, nothing to show")
        else:
            why.append("nothing to present (no alert, sound or badge)")
    return Presentation(alert=alert, sound=sound, badge=badge, why_not=tuple(why))


def badge_after(current: int, presentation: Presentation) -> int:
    """The icon's badge after a notification: set by a number, cleared by 0, unchanged when absent."""
    return current if presentation.badge is None else presentation.badge

"""The user's notification permission for one app: pure rules, no I/O (docs/device-side.md §2.2, §2.6, §6
rule 24).

``UNUserNotificationCenter.requestAuthorization(options:)`` prompts the user once; the answer is stored and
every later request returns it without a prompt. A provisional request is granted quietly, without a prompt
(notifications go to Notification Center only); a later non-provisional request prompts for real. The user's
answer cannot be asked of a simulated user, so it is preset when the app is installed (``user_response``).

Permission decides presentation only: a denied app still gets its token, and its pushes arrive silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NOT_DETERMINED = "not_determined"
AUTHORIZED = "authorized"
DENIED = "denied"
PROVISIONAL = "provisional"
STATUSES = (NOT_DETERMINED, AUTHORIZED, DENIED, PROVISIONAL)
USER_RESPONSES = ("allow", "deny")
OPTIONS = ("alert", "sound", "badge")
# §2.6 [O]: the prompt is not shown again after a reinstall unless the app stayed deleted for a day.
FORGET_AFTER = 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class Authorization:
    """``UNNotificationSettings`` reduced to what presentation needs: the status and the allowed types."""

    status: str = NOT_DETERMINED
    options: tuple[str, ...] = ()

    @property
    def determined(self) -> bool:
        return self.status != NOT_DETERMINED

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "options": list(self.options)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Authorization:
        status = str(data.get("status", NOT_DETERMINED))
        if status not in STATUSES:
            status = NOT_DETERMINED
        return cls(status=status, options=check_options(data.get("options", ())))


@dataclass(frozen=True, kw_only=True)
class AuthorizationDecision:
    """What one ``requestAuthorization`` call did: the stored answer, whether the user saw a prompt, and the
    ``granted`` flag the completion handler receives."""

    authorization: Authorization
    prompted: bool
    granted: bool


def check_options(options: Sequence[str]) -> tuple[str, ...]:
    bad = [o for o in options if o not in OPTIONS]
    if bad:
        raise ValueError(f"unknown authorization option(s) {', '.join(map(str, bad))}: choose from "
                         f"{', '.join(OPTIONS)}")
    return tuple(dict.fromkeys(options))


def check_user_response(response: str) -> str:
    if response not in USER_RESPONSES:
        raise ValueError(f"user_response must be one of {', '.join(USER_RESPONSES)}, not {response!r}")
    return response


def request(current: Authorization, options: Sequence[str], *, provisional: bool,
            user_response: str) -> AuthorizationDecision:
    """One ``requestAuthorization(options:)`` call (§2.2): prompt once, then always the stored answer."""
    wanted = check_options(options)
    check_user_response(user_response)
    if current.status in (AUTHORIZED, DENIED):
        return AuthorizationDecision(authorization=current, prompted=False, granted=current.status == AUTHORIZED)
    if provisional:
        if current.status == PROVISIONAL:
            return AuthorizationDecision(authorization=current, prompted=False, granted=True)
        return AuthorizationDecision(authorization=Authorization(status=PROVISIONAL, options=wanted),
                                     prompted=False, granted=True)
    # not determined, or provisional asking for full authorization: the user sees the prompt now
    if user_response == "allow":
        return AuthorizationDecision(authorization=Authorization(status=AUTHORIZED, options=wanted),
                                     prompted=True, granted=True)
    return AuthorizationDecision(authorization=Authorization(status=DENIED), prompted=True, granted=False)


def kept_after_reinstall(uninstalled_at: float | None, now: float) -> bool:
    """Whether a reinstalled app keeps the old answer (deleted less than a day ago, §2.6, rule 24)."""
    return uninstalled_at is not None and 0 <= now - uninstalled_at < FORGET_AFTER


__all__ = ["AUTHORIZED", "DENIED", "NOT_DETERMINED", "PROVISIONAL", "Authorization", "AuthorizationDecision",
           "check_options", "check_user_response", "kept_after_reinstall", "request"]

"""Failing a registration on purpose: the NSError codes the phone knows, by number (docs/device-side.md §4).

``device-sim register --fail-with CODE`` and ``install_app(..., fail_registration_with=CODE)`` make the app's
next registrations fail as iOS fails them, so a learner sees ``didFailToRegisterForRemoteNotificationsWithError:``
called without having to break an entitlement or find an old iOS Simulator. Only Apple's codes that the
device side already models are accepted (3000, 3010); any other number is refused with a one-line error that
lists them, because a made-up NSError would teach something iOS never says. The error's domain, code and
description are iOS's own words and stay untranslated (a program may compare them); the line a person
reads around them is translated.
"""

from __future__ import annotations

from collections.abc import Callable

from device_sim.rules.presentation import RegistrationError, missing_entitlement_error, simulator_error
from pushsim_i18n import N_, Domain

_ = Domain("device_sim").gettext

# code -> (the error iOS hands the app, what causes it in words a learner reads)
FAILURES: dict[int, tuple[Callable[[], RegistrationError], str]] = {
    3000: (missing_entitlement_error,
           N_("the app has no valid aps-environment entitlement (the Push Notifications capability is off)")),
    3010: (simulator_error, N_("an iOS Simulator before Xcode 14 / iOS 16 cannot register for remote notifications")),
}


def known_codes() -> tuple[int, ...]:
    return tuple(sorted(FAILURES))


def check_code(code: int) -> int:
    """``code`` if the phone knows it; ValueError (one line, listing the known codes) otherwise."""
    if code not in FAILURES:
        # Each code with its cause, one after another: not "3000 (cause (detail))", whose nested brackets a
        # learner has to untangle, and in Chinese full-width punctuation throughout (docs/i18n.md).
        known = _("; ").join(_("{code}: {cause}").format(code=c, cause=_(FAILURES[c][1])) for c in known_codes())
        raise ValueError(_("unknown registration error code {code}; the phone knows only these: {known}").format(
            code=code, known=known))
    return code


def failure(code: int) -> RegistrationError:
    """The NSError ``didFailToRegisterForRemoteNotificationsWithError:`` receives for ``code``."""
    return FAILURES[check_code(code)][0]()


def fail_with_help() -> str:
    """``--fail-with``'s help text (built when the parser is, after the language is chosen)."""
    return _("make the registration fail with this NSError code, as iOS does: {codes}; the app's "
             "didFailToRegisterForRemoteNotificationsWithError: is called and the command prints "
             "{{\"error\": {{...}}}} and exits 3").format(codes=", ".join(str(c) for c in known_codes()))


def environment_help(*, several: bool = False) -> str:
    """``--environment``'s help text (``register``; ``run`` and ``fleet``, whose apps are ``several`` and which
    default to sandbox): the entitlement decides which APNs gives the token (docs/device-side.md §4)."""
    if several:
        return _("the apps' aps-environment entitlement: sandbox (development, the default) or production; APNs "
                 "of that environment gives the tokens")
    return _("the app's aps-environment entitlement: sandbox (development) or production; APNs of that "
             "environment gives the token")


def failure_line(error: RegistrationError) -> str:
    """The one line on stderr beside the JSON error object."""
    return _("registration failed: didFailToRegisterForRemoteNotificationsWithError: was called with {error}").format(
        error=error)


def failure_json(error: RegistrationError) -> dict[str, object]:
    """What ``device-sim register`` prints on stdout when registration fails (stable keys, docs/cli.md)."""
    return {"error": error.as_json()}


__all__ = ["FAILURES", "check_code", "environment_help", "fail_with_help", "failure", "failure_json",
           "failure_line", "known_codes"]

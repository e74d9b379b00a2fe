"""The phone's reasons (``why_not``) told in the reader's language, for every reader: the scenarios' narration
and the dashboard.

The phone writes its reasons in English (other tools read them: docs/device-side.md), several joined with
"; " and some with a number in them. A learner reads them in the narration and on the dashboard, so each part is
looked up here: a fixed reason by its text, a reason with a number by the template it was made from. A reason
this table lacks (a newer phone's) is shown as the phone wrote it. The words are the phone's, so they are in the
``device_sim`` catalog; the admin server hands the templates and their translations to the page
(``GET /_sim/i18n/zh.json``), whose script matches them the same way (apns_sim/admin/static/lanes.js).
tests/unit/scenarios/test_phone_words.py and tests/unit/apns_sim/admin/test_dashboard_words.py make every reason
with the phone's own rules, so a new one fails there until it is listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from pushsim_i18n import N_, Domain

DOMAIN = Domain("device_sim")
_ = DOMAIN.gettext

REASONS = (
    N_("VoIP pushes go straight to the app and are never displayed"), N_("the payload has no aps dictionary"),
    N_("alert must be a string or a dictionary"), N_("the app did not register for alerts"),
    N_("the app did not register for sounds"), N_("the app did not register for badges"),
    N_("passive interruption level: no sound"), N_("badge must be a non-negative number"),
    N_("background notification: handed to the app, nothing to show"),
    N_("nothing to present (no alert, sound or badge)"), N_("permission denied: delivered silently"),
    N_("provisional permission: delivered quietly, no sound"),
    N_("provisional permission: delivered quietly, no badge"),
    N_("app in foreground, willPresent returned none"),
    N_("app in foreground, willPresent did not ask for banner or list"),
    N_("app in foreground, willPresent did not ask for sound"),
    N_("app in foreground, willPresent did not ask for badge"),
    N_("Focus is on: delivered quietly to Notification Center"), N_("Focus is on: no sound"),
    N_("the phone is muted: no sound"), N_("app in foreground (legacy API): the app shows its own UI"),
    N_("no remote-notification background mode: not delivered"), N_("app was force-quit: background push discarded"),
    N_("held until the app launches"), N_("held until the app launches (replacing an older held push)"),
    N_("VoIP push: handed to the app, never displayed"), N_("the app reported a call to CallKit"),
    N_("VoIP pushes to this app stop now"),
    N_("duplicate: the phone took this apns-id before and acknowledges it without showing it again"),
    # With a number: the phone's English is matched by the template, the number carried over.
    N_("badge {badge} is above {max}, the largest the phone shows"),
    N_("throttled: {count} background wakes in the last hour (budget {budget})"),
    N_("throttled: daily background budget of {budget} used up"),
    N_("the app reported no call to CallKit, so the system terminated it (failure {count} of {max})"),
    N_("the app has no PushKit delegate to take it, so the system terminated it (failure {count} of {max})"),
    N_("VoIP pushes to this app stopped: it failed {count} times to report a call to CallKit (reinstall the app "
       "to receive them again)"),
)


def translations(language: str) -> dict[str, str]:
    """Every template with its text in ``language``, for a web page that matches them itself."""
    return {template: DOMAIN.in_language(language, template) for template in REASONS}


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each template as a pattern: its text literally, each ``{name}`` a group that takes no spaces."""
    return tuple((re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\S+?)", re.escape(template))), template)
                 for template in REASONS)


def told_part(part: str) -> str:
    for pattern, template in _patterns():
        match = pattern.fullmatch(part)
        if match:
            return _(template).format(**match.groupdict())
    return part


def told(why: str | Iterable[str]) -> str:
    """``why_not`` (a tuple, or the phone's "; "-joined text) in the reader's language, parts joined again."""
    parts = why.split("; ") if isinstance(why, str) else [p for item in why for p in item.split("; ")]
    return _("; ").join(told_part(part) for part in parts if part)

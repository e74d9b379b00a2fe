"""Phones as the dashboard shows them: apps, tokens, online state, badge and permission, or "unknown".

What APNs knows it shows: devices and their activation, tokens and their states (registry), which courier
connections are open (delivery), and what each phone reported about its pushes (the journey log, through
the courier's SimReport: presented with which alert, sound and badge, or not and why). What a real APNs
cannot know, it does not invent: the notification permission is only ever reported indirectly, and the
badge only as the last number a push set (the app may have changed it since). Reference: docs/device-side.md
§2 (presentation and badge), §3 (token lifecycle); docs/apns-protocol.md §8.

Simulator-only: a phone of ours reports each app's permission, badge and state ([sim] courier AppStatus,
:mod:`apns_sim.model.app_status`). An app with such a report shows it, marked ``"reported": true``; the others
(fleet phones, other clients, tokens no longer live) keep the hints above and ``"reported": false``.
"""

from __future__ import annotations

from typing import Any

from apns_sim.admin.words import say
from apns_sim.delivery.store_and_forward import Delivery
from apns_sim.model import journeys as events
from apns_sim.model.app_status import AppReports, ReportedApp
from apns_sim.model.journeys import JourneyLog
from apns_sim.model.registry import ACTIVE, Registry, TokenRecord
from pushsim_i18n import N_

UNKNOWN = N_("unknown")
PRESENTED_HINT = N_("allows at least some notifications (a push was presented)")
NOTHING_PRESENTED = N_("unknown (nothing presented yet: {why})")
NO_REASON = N_("no reason reported")
REPORTED_NOTE = N_("reported by the phone")
LAST_PUSH_NOTE = N_("last number a push set")


def _reported(journeys: JourneyLog) -> dict[str, dict[str, Any]]:
    """Per token (lower case): the last badge a push set, what the last push did, and how many were shown."""
    out: dict[str, dict[str, Any]] = {}
    for journey in journeys.list():
        seen = out.setdefault(journey.token.lower(), {"badge": None, "last": None, "presented": 0,
                                                      "not_presented": 0, "why_not": None})
        if not journey.stages:
            continue
        last = journey.stages[-1]
        seen["last"] = {"apns_id": journey.apns_id, "stage": last["stage"], "at": last["at"]}
        for stage in journey.stages:
            if stage["stage"] == events.PRESENTED:
                seen["presented"] += 1
                if stage.get("badge") is not None:
                    seen["badge"] = stage["badge"]
            elif stage["stage"] == events.NOT_PRESENTED:
                seen["not_presented"] += 1
                seen["why_not"] = stage.get("why")
    return out


def _permission(seen: dict[str, Any] | None, language: str) -> str:
    """Only a hint, from what the phone reported; APNs is never told the permission itself."""
    if seen is None or not (seen["presented"] or seen["not_presented"]):
        return say(language, UNKNOWN)
    if seen["presented"]:
        return say(language, PRESENTED_HINT)
    return say(language, NOTHING_PRESENTED, why=seen["why_not"] or say(language, NO_REASON))


def _status(seen: dict[str, Any] | None, status: ReportedApp | None, language: str) -> dict[str, Any]:
    """Permission, badge and app state: as the phone reported them ([sim]), else APNs' own hints. The
    reported permission and the app state are words a program reads (the page translates them); the hints
    and notes are sentences, in the reader's ``language``."""
    if status is not None:
        return {"badge": status.badge, "badge_note": say(language, REPORTED_NOTE), "permission": status.permission,
                "permission_options": list(status.options), "app_state": status.state, "reported": True,
                "reported_at": status.at, "permission_why": None}
    # The phone's own reasons (English on the wire), beside the hint: the page says them in its language part
    # by part (lanes.js whyText), which the sentence above cannot, as they are the phone's words, not ours.
    why = seen["why_not"] if seen and seen["not_presented"] and not seen["presented"] else None
    return {"badge": None if seen is None else seen["badge"],
            "badge_note": say(language, LAST_PUSH_NOTE if seen and seen["badge"] is not None else UNKNOWN),
            "permission": _permission(seen, language), "permission_options": None, "app_state": UNKNOWN,
            "reported": False, "reported_at": None, "permission_why": why}


def _newest_live_first(record: TokenRecord) -> tuple[bool, float]:
    """Live tokens before dead ones, each newest first: after an uninstall and a reinstall the new token is
    the one to push to, the old one answers 410 (docs/dashboard.md §4)."""
    return (record.state != ACTIVE, -record.issued_at.timestamp())


def phones_view(registry: Registry, delivery: Delivery, journeys: JourneyLog,
                app_reports: AppReports | None = None, language: str = "en") -> dict[str, Any]:
    """``GET /_sim/phones[?lang=]``: each phone with its online state per environment and its apps, live
    tokens first and newest first, each marked ``"live"``."""
    online = set(delivery.online())
    reported = _reported(journeys)
    tokens: dict[str, list[TokenRecord]] = {}
    for record in registry.list_tokens():  # one query, not one per device: the page polls this every 3 s
        tokens.setdefault(record.device_id, []).append(record)
    phones = []
    for device in registry.list_devices():
        apps = []
        for t in sorted(tokens.get(device.device_id, ()), key=_newest_live_first):
            seen = reported.get(t.token.lower())
            # A report describes the app installed now: an old token (deleted or replaced app) keeps the hints.
            status = (app_reports.get(device.device_id, t.bundle_id, t.environment)
                      if app_reports is not None and t.state == ACTIVE else None)
            apps.append({
                "bundle_id": t.bundle_id, "kind": t.kind, "environment": t.environment, "token": t.token,
                "token_state": t.state, "live": t.state == ACTIVE,
                "issued_at": t.issued_at.isoformat(),
                "unregistered_at": None if t.unregistered_at is None else t.unregistered_at.isoformat(),
                **_status(seen, status, language),
                "last_notification": None if seen is None else seen["last"],
            })
        phones.append({
            "device_id": device.device_id, "name": device.name, "activated_at": device.activated_at.isoformat(),
            "online": {env: (device.device_id, env) in online for env in ("sandbox", "production")},
            "apps": apps,
        })
    return {"phones": phones}

"""Permission denied: the user says "Don't Allow"; the app still gets a token; pushes arrive silently.

Apple (docs/device-side.md §2.6, §6 rule 24; §2.2 for provisional): registering for remote notifications
and asking the user's permission are separate. A user who denies still leaves the app with a device token, and
APNs still accepts and delivers its pushes (200); the phone shows nothing: no banner, no sound, no badge.
Provisional permission (no prompt) delivers quietly to Notification Center. The provider cannot tell.
"""

from __future__ import annotations

from typing import Any

from device_sim import Phone
from provider.apns import APNsClient, Notification
from scenarios.kit import TEAM_ID, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

DENIED_APP = "com.example.denied"
ALLOWED_APP = "com.example.allowed"
QUIET_APP = "com.example.quiet"
PAYLOAD = {"aps": {"alert": {"title": "Sale", "body": "50% off today"}, "sound": "default", "badge": 5}}


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage("The provider's certificates", "portal")
        credentials = {bundle: push_certificate(w.portal, w.work, bundle)
                       for bundle in (DENIED_APP, ALLOWED_APP, QUIET_APP)}
        story.step(f"push certificates for {', '.join(credentials)} (team {TEAM_ID})")

        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Careful iPhone") as phone:
            prompts: list[dict[str, Any]] = []
            phone.subscribe(lambda event: prompts.append(event) if event["event"] == "authorization_prompt" else None)

            await story.stage("Three apps ask for permission; the user answers", "app")
            denied = phone.install_app(DENIED_APP, user_response="deny")
            granted = await denied.request_authorization(("alert", "sound", "badge"))
            story.step(f"{DENIED_APP}: prompt \"… Would Like to Send You Notifications\" → Don't Allow "
                       f"(granted={granted})")
            story.check(not granted and denied.authorization.status == "denied", "the user denied permission")
            again = await denied.request_authorization(("alert", "sound", "badge"))
            story.check(not again and len(prompts) == 1, "asking again does not prompt again: the answer is stored")
            allowed = phone.install_app(ALLOWED_APP, user_response="allow")
            story.check(await allowed.request_authorization(("alert", "sound", "badge")),
                        f"{ALLOWED_APP}: the user allowed alert, sound and badge")
            quiet = phone.install_app(QUIET_APP)
            story.check(await quiet.request_authorization(("alert", "sound", "badge"), provisional=True)
                        and quiet.authorization.status == "provisional" and len(prompts) == 2,
                        f"{QUIET_APP}: provisional permission, granted without a prompt")

            await story.stage("Registration does not depend on permission", "app")
            tokens = {app.bundle_id: await app.register() for app in (denied, allowed, quiet)}
            for bundle, token in tokens.items():
                story.step(f"{bundle}: token {token[:16]}…")
            story.check(len(tokens[DENIED_APP]) == 64, "the denied app still receives its device token")

            await story.stage("The provider sends the same push to each app", "provider")
            rows = []
            for app in (denied, allowed, quiet):
                async with APNsClient(credentials[app.bundle_id], endpoint=w.endpoints["sandbox"],
                                      ca_file=w.endpoints["ca_file"]) as client:
                    result = await client.send(Notification(token=tokens[app.bundle_id], topic=app.bundle_id,
                                                            payload=PAYLOAD))
                story.check(result.status == 200, f"APNs accepts the push to {app.bundle_id}: the provider "
                                                  "cannot tell permission from its answer")
                received = await app.next_notification(timeout=10)
                shown = received.presentation
                stages = await w.admin.wait(received.apns_id, "presented,not_presented")
                rows.append((app.bundle_id, app.authorization.status, "yes" if shown.presented else "no",
                             shown.where or "-", shown.sound or "-", "-" if shown.badge is None else shown.badge,
                             stages[-1] if stages else "?"))
                for why in shown.why_not:
                    story.step(f"{app.bundle_id}: {why}", actor="device")
                if app is denied:
                    denied_shown, denied_stages = shown, stages
                elif app is allowed:
                    allowed_shown = shown
                else:
                    quiet_shown = shown

            await story.stage("What the user saw", "device")
            story.table("One push, three permissions", ("app", "permission", "shown", "where", "sound", "badge",
                                                       "journey"), rows)
            story.check(not denied_shown.presented and any("permission denied" in w for w in denied_shown.why_not),
                        "denied: delivered silently, no alert, sound or badge, and the phone says why")
            story.check(denied_stages[-1:] == ["not_presented"] and "delivered" in denied_stages,
                        "the journey shows it delivered, then not presented")
            story.check(denied.badge == 0, "the denied app's icon shows no badge")
            story.check(allowed_shown.where == "banner" and allowed_shown.sound == "default"
                        and allowed_shown.badge == 5, "allowed: banner, sound and badge 5")
            story.check(quiet_shown.where == "notification_center" and quiet_shown.sound is None
                        and quiet_shown.badge is None, "provisional: quietly in Notification Center, no sound or badge")


SCENARIO = Scenario("permission-denied", "the user denies notifications: the app still gets a token, APNs still "
                    "says 200, the phone shows nothing (and provisional: Notification Center only)", run)

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
from pushsim_i18n import N_, Domain
from pushsim_i18n.phone_reasons import told as told_why
from scenarios.journey import told
from scenarios.kit import TEAM_ID, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

DENIED_APP = "com.example.denied"
ALLOWED_APP = "com.example.allowed"
QUIET_APP = "com.example.quiet"
PAYLOAD = {"aps": {"alert": {"title": "Sale", "body": "50% off today"}, "sound": "default", "badge": 5}}
# The phone's words for a permission and for where an alert appeared, as a person reads them (translated at use).
PERMISSIONS = {"authorized": N_("allowed"), "denied": N_("denied"), "provisional": N_("provisional"),
               "not_determined": N_("not asked yet")}
PLACES = {"banner": N_("banner"), "lock_screen": N_("Lock Screen"), "notification_center": N_("Notification Center")}


def _word(table: dict[str, str], value: str | None) -> str:
    return "-" if value is None else _(table[value]) if value in table else value


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("The provider's certificates"), "portal")
        credentials = {bundle: push_certificate(w.portal, w.work, bundle)
                       for bundle in (DENIED_APP, ALLOWED_APP, QUIET_APP)}
        story.step(_("push certificates for {bundle_ids} (team {team_id})").format(
            bundle_ids=", ".join(credentials), team_id=TEAM_ID))

        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Careful iPhone") as phone:
            prompts: list[dict[str, Any]] = []
            phone.subscribe(lambda event: prompts.append(event) if event["event"] == "authorization_prompt" else None)

            await story.stage(_("Three apps ask for permission; the user answers"), "app")
            denied = phone.install_app(DENIED_APP, user_response="deny")
            granted = await denied.request_authorization(("alert", "sound", "badge"))
            story.step(_("{bundle_id}: the prompt “… Would Like to Send You Notifications”; the user taps Don't "
                         "Allow").format(bundle_id=DENIED_APP), granted=granted)
            story.check(not granted and denied.authorization.status == "denied", _("the user denied permission"))
            again = await denied.request_authorization(("alert", "sound", "badge"))
            story.check(not again and len(prompts) == 1,
                        _("asking again does not prompt again: the answer is stored"))
            allowed = phone.install_app(ALLOWED_APP, user_response="allow")
            story.check(await allowed.request_authorization(("alert", "sound", "badge")),
                        _("{bundle_id}: the user allowed alert, sound and badge").format(bundle_id=ALLOWED_APP))
            quiet = phone.install_app(QUIET_APP)
            story.check(await quiet.request_authorization(("alert", "sound", "badge"), provisional=True)
                        and quiet.authorization.status == "provisional" and len(prompts) == 2,
                        _("{bundle_id}: provisional permission, granted without a prompt").format(bundle_id=QUIET_APP))

            await story.stage(_("Registration does not depend on permission"), "app")
            tokens = {app.bundle_id: await app.register() for app in (denied, allowed, quiet)}
            for bundle, token in tokens.items():
                story.step(_("{bundle_id}: token {token}…").format(bundle_id=bundle, token=token[:16]))
            story.check(len(tokens[DENIED_APP]) == 64, _("the denied app still receives its device token"))

            await story.stage(_("The provider sends the same push to each app"), "provider")
            rows = []
            for app in (denied, allowed, quiet):
                async with APNsClient(credentials[app.bundle_id], endpoint=w.endpoints["sandbox"],
                                      ca_file=w.endpoints["ca_file"]) as client:
                    result = await client.send(Notification(token=tokens[app.bundle_id], topic=app.bundle_id,
                                                            payload=PAYLOAD))
                story.check(result.status == 200, _("APNs accepts the push to {bundle_id}: the provider cannot tell "
                                                    "permission from its answer").format(bundle_id=app.bundle_id))
                received = await app.next_notification(timeout=10)
                shown = received.presentation
                stages = await w.admin.wait(received.apns_id, "presented,not_presented")
                rows.append((app.bundle_id, _word(PERMISSIONS, app.authorization.status),
                             _("yes") if shown.presented else _("no"), _word(PLACES, shown.where),
                             shown.sound or "-", "-" if shown.badge is None else shown.badge,
                             told(stages[-1:]) or "?"))
                for why in shown.why_not:
                    story.step(_("{bundle_id}: {why}").format(bundle_id=app.bundle_id, why=told_why(why)),
                               actor="device")
                if app is denied:
                    denied_shown, denied_stages = shown, stages
                elif app is allowed:
                    allowed_shown = shown
                else:
                    quiet_shown = shown

            await story.stage(_("What the user saw"), "device")
            story.table(_("One push, three permissions"), (_("app"), _("permission"), _("shown"), _("where"),
                                                          _("sound"), _("badge"), _("journey ends")), rows)
            # why_not is the phone's own English (told in the reader's language above): check it says something.
            story.check(not denied_shown.presented and bool(denied_shown.why_not),
                        _("denied: delivered silently, no alert, sound or badge, and the phone says why"))
            story.check(denied_stages[-1:] == ["not_presented"] and "delivered" in denied_stages,
                        _("the journey shows it delivered, then not presented"))
            story.check(denied.badge == 0, _("the denied app's icon shows no badge"))
            story.check(allowed_shown.where == "banner" and allowed_shown.sound == "default"
                        and allowed_shown.badge == 5, _("allowed: banner, sound and badge 5"))
            story.check(quiet_shown.where == "notification_center" and quiet_shown.sound is None
                        and quiet_shown.badge is None,
                        _("provisional: quietly in Notification Center, no sound or badge"))


SCENARIO = Scenario("permission-denied", N_("the user denies notifications: the app still gets a token, APNs still "
                    "says 200, the phone shows nothing (and provisional: Notification Center only)"), run)

"""Uninstall, then 410 ``Unregistered``, then re-registration with a new token.

Apple (docs/apns-protocol.md §4.3, §8; docs/device-side.md §3, §6 rule 13): when the user deletes the app,
the phone stops accepting its topic; APNs then answers pushes to the old token with 410 ``Unregistered`` and
a ``timestamp`` (ms) of when it learnt the token stopped being valid, and it does so after a delay on purpose
(days are normal). The provider must stop sending to that token. Installing the app again yields a new token,
which the app sends to the provider as on first launch. The delay here is one day on the simulator's clock.
"""

from __future__ import annotations

from apns_sim.delivery.store_and_forward import DeliveryConfig
from apns_sim.state import SimConfig
from device_sim import Phone
from pushsim_i18n import N_, Domain
from scenarios.kit import get_json, post_json, provider_service, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.notes"
DELAY = 24 * 3600  # Apple delays the 410 on purpose; one simulated day


async def run(story: Story) -> None:
    config = SimConfig(delivery=DeliveryConfig(unregister_delay=DELAY))
    async with world(story, config) as w:
        await story.stage(_("The provider service and an iPhone with the app"), "provider")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        async with provider_service(w.sim, credentials, w.work) as provider, \
                Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Bob's iPhone") as phone:
            story.step(_("provider service at {url}; the simulator's 410 delay is {delay} s (one day)").format(
                url=provider, delay=DELAY))
            app = phone.install_app(BUNDLE_ID)
            old = await app.register()
            status, _body = await post_json(f"{provider}/v1/devices", {"token": old, "bundle_id": BUNDLE_ID,
                                                                       "environment": "sandbox", "user_id": "bob"})
            story.step(_("the app got token {token}… and sent it to the provider (HTTP {status})").format(
                token=old[:16], status=status), actor="app")
            story.check(status in (200, 201), _("the provider registered Bob's token"))

            async def notify(text: str) -> list[dict[str, object]]:
                """The provider service's send API; APNs's answer for each token is in its results. The
                service's own HTTP status says only that it took the request, so the story does not print it
                beside APNs's answers (issue 16: "HTTP 200" just before the 410 table read as APNs's)."""
                status, body = await post_json(f"{provider}/v1/notifications",
                                               {"bundle_id": BUNDLE_ID, "user_id": "bob", "alert": text})
                results = list(body.get("results", [])) if status == 200 and isinstance(body, dict) else []
                story.check(bool(results), _('the provider service sent "{text}" to Bob\'s tokens').format(text=text))
                return results

            await story.stage(_("Bob deletes the app"), "device", number=3)
            told = await phone.uninstall(BUNDLE_ID)
            story.check(told, _("the phone tells APNs it no longer wants the topic"))

            await story.stage(_("Within the delay: APNs still says 200"), "provider", number=1)
            results = await notify(_("Reminder: buy milk"))
            story.step(_("APNs answered {status} (the app is gone, but Apple does not say so yet)").format(
                status=results[0]["status"]))
            story.check([r["status"] for r in results] == [200], _("within the delay the push is accepted"))

            await story.stage(_("A day later: 410 Unregistered with a timestamp"), "apns", number=1)
            now = await w.admin.clock(advance=DELAY + 60)
            story.step(_("the simulator clock moves one day and a minute on (now {now})").format(now=f"{now:.0f}"))
            results = await notify(_("Reminder: buy bread"))
            story.table(_("APNs's answer to the provider's push after the delay"),
                        (_("token"), _("status"), _("reason"), _("timestamp (ms)")),
                        [(str(r["token"])[:16] + "…", r["status"], r["reason"], r["timestamp"]) for r in results])
            gone = results[0]
            story.check(gone["status"] == 410 and gone["reason"] == "Unregistered",
                        _("APNs answers 410 Unregistered for the old token"))
            timestamp = gone["timestamp"]
            story.check(isinstance(timestamp, int) and timestamp / 1000 <= now,
                        _("the 410 carries a timestamp in ms, when APNs learnt the token stopped being valid"))
            _status, devices = await get_json(f"{provider}/v1/devices?bundle_id={BUNDLE_ID}")
            row = next(d for d in devices["devices"] if d["token"] == old)
            story.step(_("provider's registry: {token}… is {status} ({reason})").format(
                token=old[:16], status=row["status"], reason=row["reason"]), actor="provider")
            story.check(row["status"] == "inactive", _("the provider deactivated the token and will not send to it"))

            await story.stage(_("Bob installs the app again: a new token"), "app")
            app = phone.install_app(BUNDLE_ID)
            new = await app.register()
            story.step(_("the app got token {token}…").format(token=new[:16]), actor="app")
            story.check(new != old, _("re-registration after a reinstall yields a new token"))
            status, _body = await post_json(f"{provider}/v1/devices", {"token": new, "bundle_id": BUNDLE_ID,
                                                                       "environment": "sandbox", "user_id": "bob"})
            story.check(status in (200, 201), _("the provider accepts the new token"))
            welcome = _("Welcome back")
            results = await notify(welcome)
            story.check([(r["token"], r["status"]) for r in results] == [(new, 200)],
                        _("the provider sends only to the new token, and APNs accepts it"))
            received = await app.next_notification(timeout=10)
            story.check(received.payload["aps"]["alert"] == welcome, _("the reinstalled app receives it"))


SCENARIO = Scenario("uninstall-410", N_("the app is deleted: 200 during Apple's delay, then 410 Unregistered with a "
                    "timestamp; the provider deactivates the token; a reinstall registers a new one"), run)

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
from scenarios.kit import get_json, post_json, provider_service, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

BUNDLE_ID = "com.example.notes"
DELAY = 24 * 3600  # Apple delays the 410 on purpose; one simulated day


async def run(story: Story) -> None:
    config = SimConfig(delivery=DeliveryConfig(unregister_delay=DELAY))
    async with world(story, config) as w:
        await story.stage("The provider service and an iPhone with the app", "provider")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        async with provider_service(w.sim, credentials, w.work) as provider, \
                Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Bob's iPhone") as phone:
            story.step(f"provider service at {provider}; the simulator's 410 delay is {DELAY} s (one day)")
            app = phone.install_app(BUNDLE_ID)
            old = await app.register()
            status, _ = await post_json(f"{provider}/v1/devices", {"token": old, "bundle_id": BUNDLE_ID,
                                                                   "environment": "sandbox", "user_id": "bob"})
            story.step(f"the app got token {old[:16]}… and sent it to the provider (HTTP {status})", actor="app")
            story.check(status in (200, 201), "the provider registered Bob's token")

            async def notify(text: str) -> list[dict[str, object]]:
                status, body = await post_json(f"{provider}/v1/notifications",
                                               {"bundle_id": BUNDLE_ID, "user_id": "bob", "alert": text})
                story.check(status == 200, f"POST /v1/notifications {text!r}: HTTP {status}")
                return list(body["results"])

            await story.stage("Bob deletes the app", "device")
            told = await phone.uninstall(BUNDLE_ID)
            story.check(told, "the phone tells APNs it no longer wants the topic")

            await story.stage("Within the delay: APNs still says 200", "provider")
            results = await notify("Reminder: buy milk")
            story.step(f"APNs answered {results[0]['status']} (the app is gone, but Apple does not say so yet)")
            story.check([r["status"] for r in results] == [200], "within the delay the push is accepted")

            await story.stage("A day later: 410 Unregistered with a timestamp", "apns")
            now = await w.admin.clock(advance=DELAY + 60)
            story.step(f"the simulator clock moves one day and a minute on (now {now:.0f})")
            results = await notify("Reminder: buy bread")
            story.table("The provider's push after the delay", ("token", "status", "reason", "timestamp (ms)"),
                        [(str(r["token"])[:16] + "…", r["status"], r["reason"], r["timestamp"]) for r in results])
            gone = results[0]
            story.check(gone["status"] == 410 and gone["reason"] == "Unregistered",
                        "APNs answers 410 Unregistered for the old token")
            timestamp = gone["timestamp"]
            story.check(isinstance(timestamp, int) and timestamp / 1000 <= now,
                        "the 410 carries a timestamp in ms, when APNs learnt the token stopped being valid")
            _, devices = await get_json(f"{provider}/v1/devices?bundle_id={BUNDLE_ID}")
            row = next(d for d in devices["devices"] if d["token"] == old)
            story.step(f"provider's registry: {old[:16]}… is {row['status']} ({row['reason']})", actor="provider")
            story.check(row["status"] == "inactive", "the provider deactivated the token and will not send to it")

            await story.stage("Bob installs the app again: a new token", "app")
            app = phone.install_app(BUNDLE_ID)
            new = await app.register()
            story.step(f"the app got token {new[:16]}…", actor="app")
            story.check(new != old, "re-registration after a reinstall yields a new token")
            status, _ = await post_json(f"{provider}/v1/devices", {"token": new, "bundle_id": BUNDLE_ID,
                                                                   "environment": "sandbox", "user_id": "bob"})
            story.check(status in (200, 201), "the provider accepts the new token")
            results = await notify("Welcome back")
            story.check([(r["token"], r["status"]) for r in results] == [(new, 200)],
                        "the provider sends only to the new token, and APNs accepts it")
            received = await app.next_notification(timeout=10)
            story.check(received.payload["aps"]["alert"] == "Welcome back", "the reinstalled app receives it")


SCENARIO = Scenario("uninstall-410", "the app is deleted: 200 during Apple's delay, then 410 Unregistered with a "
                    "timestamp; the provider deactivates the token; a reinstall registers a new one", run)

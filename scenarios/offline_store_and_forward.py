"""An offline iPhone: APNs stores one notification per app and delivers the latest when the phone returns.

Apple: "If APNs attempts to deliver a notification and the destination device is offline, APNs stores the
notification for a limited period"; "only one notification per app is stored: a newer one replaces the
older" (docs/apns-protocol.md §11, docs/device-side.md §1.10). The provider still gets 200 for each push:
APNs accepted them; what reaches the phone is APNs' business.
"""

from __future__ import annotations

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

BUNDLE_ID = "com.example.chat"
MESSAGES = ("1 new message", "2 new messages", "3 new messages")


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage("The provider's certificate and the iPhone's token", "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(f"push certificate for {BUNDLE_ID} (sandbox) issued and loaded by the provider")
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Offline iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"]) as client:
            app = phone.install_app(BUNDLE_ID, types=("alert", "sound", "badge"))
            token = await app.register()
            story.step(f"{BUNDLE_ID} registered on the iPhone: token {token[:16]}…", actor="app")

            await story.stage("The iPhone goes offline (airplane mode)", "device")
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id), "APNs sees the phone's courier connection close")

            await story.stage("The provider sends three notifications while the phone is away", "provider")
            sent: list[str] = []
            for badge, text in enumerate(MESSAGES, start=1):
                result = await client.send(Notification(token=token, topic=BUNDLE_ID,
                                                        payload=alert(text, badge=badge)))
                story.check(result.status == 200 and result.apns_id is not None,
                            f"APNs accepts {text!r} with 200 although the phone is offline")
                assert result.apns_id is not None
                sent.append(result.apns_id)
            journeys = [await w.admin.stages(apns_id) for apns_id in sent]
            story.table("What APNs did with each push", ("#", "apns-id", "alert", "journey so far"),
                        [(i + 1, apns_id, text, " → ".join(stages))
                         for i, (apns_id, text, stages) in enumerate(zip(sent, MESSAGES, journeys, strict=True))])
            story.check(all("stored" in j and "replaced" in j for j in journeys[:2]),
                        "each older push was stored, then replaced by the next one (one per app)")
            story.check(journeys[2][-1:] == ["stored"], "the latest push waits in storage")

            await story.stage("The iPhone comes back online", "device")
            await phone.go_online()
            story.step("courier connection up again; APNs flushes what it stored")
            received = await app.next_notification(timeout=10)
            story.step(f"the app received {received.apns_id}: {received.payload['aps']['alert']!r}, "
                       f"badge {received.presentation.badge}, from storage: {received.from_storage}", actor="app")
            story.check(received.apns_id == sent[2] and received.from_storage,
                        "the app receives the latest notification, marked as coming from storage")
            story.check(received.presentation.badge == 3, "its badge, 3, is the one shown")
            try:
                extra = await app.next_notification(timeout=0.5)
                story.step(f"unexpected extra notification {extra.apns_id}", actor="app")
                story.check(False, "the replaced notifications never arrive")
            except TimeoutError:
                story.check(True, "the replaced notifications never arrive")
            stages = await w.admin.wait(sent[2], "presented")
            story.step("journey of the latest: " + " → ".join(stages), actor="apns")
            story.check(stages[:2] == ["accepted", "stored"] and "delivered" in stages,
                        "accepted, stored, then delivered on reconnect")


SCENARIO = Scenario("offline-store-and-forward", "an offline iPhone: three pushes stored one per app, only the "
                    "latest delivered when it comes back online", run)

"""An offline iPhone: APNs stores one notification per app and delivers the latest when the phone returns.

Apple: "If APNs attempts to deliver a notification and the destination device is offline, APNs stores the
notification for a limited period"; "only one notification per app is stored: a newer one replaces the
older" (docs/apns-protocol.md §11, docs/device-side.md §1.10). The provider still gets 200 for each push:
APNs accepted them; what reaches the phone is APNs' business.
"""

from __future__ import annotations

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import push_certificate, short_id, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.chat"
MESSAGES = (N_("1 new message"), N_("2 new messages"), N_("3 new messages"))


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("The provider's certificate and the iPhone's token"), "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(_("push certificate for {bundle} (sandbox) issued and loaded by the provider").format(
            bundle=BUNDLE_ID))
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Offline iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"]) as client:
            app = phone.install_app(BUNDLE_ID, types=("alert", "sound", "badge"))
            token = await app.register()
            story.step(_("{bundle} registered on the iPhone: token {token}…").format(bundle=BUNDLE_ID,
                                                                                    token=token[:16]), actor="app")

            await story.stage(_("The iPhone goes offline (airplane mode)"), "device", number=3)
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id),
                        _("APNs sees the phone's courier connection close"))

            await story.stage(_("The provider sends three notifications while the phone is away"), "provider",
                              number=1)
            sent: list[str] = []
            texts = [_(message) for message in MESSAGES]
            for badge, text in enumerate(texts, start=1):
                result = await client.send(Notification(token=token, topic=BUNDLE_ID,
                                                        payload=alert(text, badge=badge)))
                story.check(result.status == 200 and result.apns_id is not None,
                            _('APNs accepts "{text}" with 200 although the phone is offline').format(text=text))
                assert result.apns_id is not None
                sent.append(result.apns_id)
            journeys = [await w.admin.stages(apns_id) for apns_id in sent]
            story.table(_("What APNs did with each push"), ("#", "apns-id", _("alert"), _("journey so far")),
                        [(i + 1, short_id(apns_id), text, told(stages))
                         for i, (apns_id, text, stages) in enumerate(zip(sent, texts, journeys, strict=True))])
            story.check(all("stored" in j and "replaced" in j for j in journeys[:2]),
                        _("each older push was stored, then replaced by the next one (one per app)"))
            story.check(journeys[2][-1:] == ["stored"], _("the latest push waits in storage"))

            await story.stage(_("The iPhone comes back online"), "apns", number=2)
            await phone.go_online()
            story.step(_("courier connection up again; APNs flushes what it stored"), actor="device")
            received = await app.next_notification(timeout=10)
            said = _('the app received {apns_id}: "{alert}", badge {badge}, marked as coming from storage') \
                if received.from_storage else _('the app received {apns_id}: "{alert}", badge {badge}')
            story.step(said.format(apns_id=received.apns_id, alert=received.payload["aps"]["alert"],
                                   badge=received.presentation.badge), actor="app")
            story.check(received.apns_id == sent[2] and received.from_storage,
                        _("the app receives the latest notification, marked as coming from storage"))
            story.check(received.presentation.badge == 3, _("its badge, 3, is the one shown"))
            never = _("the replaced notifications never arrive")
            try:
                extra = await app.next_notification(timeout=0.5)
                story.step(_("unexpected extra notification {apns_id}").format(apns_id=extra.apns_id), actor="app")
                story.check(False, never)
            except TimeoutError:
                story.check(True, never)
            stages = await w.admin.wait(sent[2], "presented")
            story.step(_("journey of the latest: {stages}").format(stages=told(stages)), actor="apns")
            story.check(stages[:2] == ["accepted", "stored"] and "delivered" in stages,
                        _("accepted, stored, then delivered on reconnect"))


SCENARIO = Scenario("offline-store-and-forward", N_("an offline iPhone: three pushes stored one per app, only the "
                    "latest delivered when it comes back online"), run)

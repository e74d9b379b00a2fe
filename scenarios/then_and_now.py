"""Then and now: the same notification sent the 2011 way (the binary interface) and today's way (HTTP/2).

Apple (docs/legacy-binary.md §2-§4; docs/apns-protocol.md §4.1): the binary interface answered a good
notification with silence and the first bad one with a single error-response packet and a closed connection,
losing everything written after it on that connection; removed apps were reported later by a separate feedback
service, read once. HTTP/2 answers every request on its own stream, with a reason, and reports a removed app as
410 ``Unregistered`` with a timestamp. Both doors lead to the same delivery and the same phone.
"""

from __future__ import annotations

from device_sim import Phone
from provider import legacy
from provider.apns import APNsClient, Notification, alert
from pushsim_i18n import N_, Domain
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.pushchat"
NEVER_ISSUED = "ab" * 32  # a token APNs never issued: a typo, or one from the other environment


def _address(value: str) -> tuple[str, int]:
    host, _colon, port = value.rpartition(":")
    return host, int(port)


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("One push certificate, one iPhone with the app"), "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(_("binary gateway {gateway} (Apple's: gateway.sandbox.push.apple.com:2195); feedback {feedback} "
                     "(Apple's: feedback.sandbox.push.apple.com:2196); HTTP/2 {http2}").format(
            gateway=w.endpoints["legacy_sandbox"], feedback=w.endpoints["feedback_sandbox"],
            http2=w.endpoints["sandbox"]), actor="apns")
        gateway = _address(w.endpoints["legacy_sandbox"])
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Ray's iPhone") as phone:
            app = phone.install_app(BUNDLE_ID)
            token = await app.register()
            story.step(_("the app got token {token}…").format(token=token[:16]), actor="app")

            def note(text: str, identifier: int, to: str = token) -> legacy.LegacyNotification:
                return legacy.LegacyNotification(token=to, payload=f'{{"aps":{{"alert":"{text}"}}}}'.encode(),
                                                 identifier=identifier)

            await story.stage(_("2011: one notification over the binary interface"), "provider")
            report = await legacy.send(credentials, [note("Hello, 2011", 1)], host=gateway[0], port=gateway[1],
                                       ca_file=w.endpoints["ca_file"], fmt="enhanced")
            story.step(_("wrote one enhanced notification (command 1); APNs said nothing, which is what success was"))
            story.check(report.error is None, _("success on the binary interface is silence"))
            received = await app.next_notification(timeout=10)
            story.check(received.payload["aps"]["alert"] == "Hello, 2011", _("the iPhone presented it"))

            await story.stage(_("2011: three notifications, the second to a bad token"), "provider")
            batch = [note("one", 11), note("two", 12, NEVER_ISSUED), note("three", 13)]
            report = await legacy.send(credentials, batch, host=gateway[0], port=gateway[1],
                                       ca_file=w.endpoints["ca_file"], fmt="enhanced")
            error = report.error
            if error is None:
                story.step(_("the three were written at once; APNs answered nothing"))
            else:
                story.step(_("the three were written at once; APNs answered one error-response packet (status "
                             "{status}, {description}, identifier {identifier}) and closed the connection").format(
                    **error.to_json()), error=error.to_json())
            story.check(error == legacy.ErrorResponse(status=8, identifier=12),
                        _("one error-response: status 8 (Invalid token) for identifier 12"))
            first = await app.next_notification(timeout=10)
            story.check(first.payload["aps"]["alert"] == "one", _("the notification before the bad one arrived"))
            try:
                lost = await app.next_notification(timeout=1)
            except TimeoutError:
                lost = None
            story.check(lost is None, _("the one written after it was lost with the connection: the provider must "
                                        "resend it, from what it remembers having written"))

            await story.stage(_("Today: the same three over HTTP/2"), "provider")
            today = APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"])
            async with today as client:
                sends = ((token, "one"), (NEVER_ISSUED, "two"), (token, "three"))
                results = [await client.send(Notification(token=t, topic=BUNDLE_ID, payload=alert(text)))
                           for t, text in sends]
                story.table(_("HTTP/2: one answer per request"), (_("token"), _("status"), _("reason")),
                            [(t[:16] + "…", r.status, r.reason or "")
                             for (t, _text), r in zip(sends, results, strict=True)])
                story.check([r.status for r in results] == [200, 400, 200] and results[1].reason == "BadDeviceToken",
                            _("each request gets its own answer; the bad token costs nothing but itself"))
                texts = [(await app.next_notification(timeout=10)).payload["aps"]["alert"] for _ in range(2)]
                story.check(texts == ["one", "three"], _("both good notifications arrived"))

                await story.stage(_("The app is deleted: the feedback service then, 410 now"), "device")
                story.check(await phone.uninstall(BUNDLE_ID), _("the phone tells APNs it no longer wants the topic"))
                feedback = _address(w.endpoints["feedback_sandbox"])
                entries = await legacy.read_feedback(credentials, host=feedback[0], port=feedback[1],
                                                     ca_file=w.endpoints["ca_file"])
                story.table(_("2011: the feedback service"), (_("timestamp (s)"), _("token")),
                            [(e.timestamp, e.token[:16] + "…") for e in entries])
                story.check([e.token for e in entries] == [token],
                            _("the feedback service lists the removed app's token"))
                again = await legacy.read_feedback(credentials, host=feedback[0], port=feedback[1],
                                                   ca_file=w.endpoints["ca_file"])
                story.check(again == [],
                            _("read once, then gone: a provider that lost the list never sees it again"))
                gone = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert("still there?")))
                story.step(_("HTTP/2 answers {status} {reason} with timestamp {timestamp} (ms)").format(
                    status=gone.status, reason=gone.reason, timestamp=gone.timestamp), actor="provider")
                story.check(gone.status == 410 and gone.reason == "Unregistered",
                            _("today: 410 Unregistered, per request"))
                story.check(gone.timestamp is not None and gone.timestamp // 1000 == entries[0].timestamp,
                            _("the 410's timestamp is the feedback tuple's, in milliseconds instead of seconds"))


SCENARIO = Scenario("then-and-now", N_("the same notification the 2011 way (binary interface: silence, one error "
                    "and a lost connection, the feedback service) and today's way (HTTP/2: an answer per request, "
                    "410 with a timestamp)"), run)

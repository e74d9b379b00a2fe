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
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

BUNDLE_ID = "com.example.pushchat"
NEVER_ISSUED = "ab" * 32  # a token APNs never issued: a typo, or one from the other environment


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage("One push certificate, one iPhone with the app", "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(f"binary gateway {w.endpoints['legacy_sandbox']} (Apple's: gateway.sandbox.push.apple.com:2195); "
                   f"feedback {w.endpoints['feedback_sandbox']} (Apple's: feedback.sandbox.push.apple.com:2196); "
                   f"HTTP/2 {w.endpoints['sandbox']}")
        gateway = _address(w.endpoints["legacy_sandbox"])
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Ray's iPhone") as phone:
            app = phone.install_app(BUNDLE_ID)
            token = await app.register()
            story.step(f"the app got token {token[:16]}…", actor="app")

            def note(text: str, identifier: int, to: str = token) -> legacy.LegacyNotification:
                return legacy.LegacyNotification(token=to, payload=f'{{"aps":{{"alert":"{text}"}}}}'.encode(),
                                                 identifier=identifier)

            await story.stage("2011: one notification over the binary interface", "provider")
            report = await legacy.send(credentials, [note("Hello, 2011", 1)], host=gateway[0], port=gateway[1],
                                       ca_file=w.endpoints["ca_file"], fmt="enhanced")
            story.step("wrote one enhanced notification (command 1); APNs said nothing, which is what success was")
            story.check(report.error is None, "success on the binary interface is silence")
            received = await app.next_notification(timeout=10)
            story.check(received.payload["aps"]["alert"] == "Hello, 2011", "the iPhone presented it")

            await story.stage("2011: three notifications, the second to a bad token", "provider")
            batch = [note("one", 11), note("two", 12, NEVER_ISSUED), note("three", 13)]
            report = await legacy.send(credentials, batch, host=gateway[0], port=gateway[1],
                                       ca_file=w.endpoints["ca_file"], fmt="enhanced")
            error = report.error
            answer = error.to_json() if error else None
            story.step(f"the three were written at once; APNs answered one packet: {answer}, and closed the connection")
            story.check(error == legacy.ErrorResponse(status=8, identifier=12),
                        "one error-response: status 8 (Invalid token) for identifier 12")
            first = await app.next_notification(timeout=10)
            story.check(first.payload["aps"]["alert"] == "one", "the notification before the bad one arrived")
            try:
                lost = await app.next_notification(timeout=1)
            except TimeoutError:
                lost = None
            story.check(lost is None, "the one written after it was lost with the connection: the provider must "
                                      "resend it, from what it remembers having written")

            await story.stage("Today: the same three over HTTP/2", "provider")
            today = APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"])
            async with today as client:
                sends = ((token, "one"), (NEVER_ISSUED, "two"), (token, "three"))
                results = [await client.send(Notification(token=t, topic=BUNDLE_ID, payload=alert(text)))
                           for t, text in sends]
                story.table("HTTP/2: one answer per request", ("token", "status", "reason"),
                            [(t[:16] + "…", r.status, r.reason or "")
                             for (t, _), r in zip(sends, results, strict=True)])
                story.check([r.status for r in results] == [200, 400, 200] and results[1].reason == "BadDeviceToken",
                            "each request gets its own answer; the bad token costs nothing but itself")
                texts = [(await app.next_notification(timeout=10)).payload["aps"]["alert"] for _ in range(2)]
                story.check(texts == ["one", "three"], "both good notifications arrived")

                await story.stage("The app is deleted: the feedback service then, 410 now", "device")
                story.check(await phone.uninstall(BUNDLE_ID), "the phone tells APNs it no longer wants the topic")
                feedback = _address(w.endpoints["feedback_sandbox"])
                entries = await legacy.read_feedback(credentials, host=feedback[0], port=feedback[1],
                                                     ca_file=w.endpoints["ca_file"])
                story.table("2011: the feedback service (read once)", ("timestamp (s)", "token"),
                            [(e.timestamp, e.token[:16] + "…") for e in entries])
                story.check([e.token for e in entries] == [token], "the feedback service lists the removed app's token")
                again = await legacy.read_feedback(credentials, host=feedback[0], port=feedback[1],
                                                   ca_file=w.endpoints["ca_file"])
                story.check(again == [], "read once, then gone: a provider that lost the list never sees it again")
                gone = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert("still there?")))
                story.step(f"HTTP/2 answers {gone.status} {gone.reason} with timestamp {gone.timestamp} (ms)")
                story.check(gone.status == 410 and gone.reason == "Unregistered",
                            "today: 410 Unregistered, per request")
                story.check(gone.timestamp is not None and gone.timestamp // 1000 == entries[0].timestamp,
                            "the 410's timestamp is the feedback tuple's, in milliseconds instead of seconds")


SCENARIO = Scenario("then-and-now", "the same notification the 2011 way (binary interface: silence, one error "
                    "and a lost connection, the feedback service) and today's way (HTTP/2: an answer per request, "
                    "410 with a timestamp)", run)

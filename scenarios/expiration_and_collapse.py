"""``apns-expiration`` and ``apns-collapse-id``: what APNs keeps for an offline phone, and for how long.

Apple (docs/apns-protocol.md §2.1, §11): ``apns-expiration: 0`` means "deliver once, immediately, or
not at all": never stored. A future expiration keeps the notification until then; past it APNs drops it.
Notifications sharing an ``apns-collapse-id`` are shown as one (the phone replaces the one on screen); for
an offline phone APNs keeps only the latest per app anyway (docs/device-side.md §1.10). Time moves on the
simulator's clock (admin API), not by sleeping (docs/style.md habit 3).
"""

from __future__ import annotations

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

BUNDLE_ID = "com.example.scores"


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage("The provider's certificate and the iPhone's token", "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(f"push certificate for {BUNDLE_ID} issued")
        now = await w.admin.clock(freeze=True)
        story.step(f"simulator clock frozen at {now:.0f} (it moves only when the story says so)", actor="apns")
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Fan's iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"]) as client:
            app = phone.install_app(BUNDLE_ID, types=("alert", "sound", "badge"))
            token = await app.register()
            story.step(f"{BUNDLE_ID} registered: token {token[:16]}…", actor="app")

            async def send(text: str, **options: object) -> str:
                result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert(text),
                                                        **options))  # type: ignore[arg-type]
                story.check(result.status == 200 and result.apns_id is not None,
                            f"APNs accepts {text!r} ({', '.join(f'{k}={v}' for k, v in options.items())}): 200")
                assert result.apns_id is not None
                return result.apns_id

            await story.stage("apns-expiration 0: one attempt, never stored", "provider")
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id), "the phone is offline")
            once = await send("Kick-off in 1 minute", expiration=0)
            stages = await w.admin.stages(once)
            story.step("journey: " + " → ".join(stages), actor="apns")
            story.check(stages == ["accepted", "discarded"], "with the phone offline, APNs discards it at once")

            await story.stage("A future expiration, then the clock passes it", "provider")
            deadline = int(now) + 60
            stale = await send("Half-time: 0-0", expiration=deadline)
            story.check((await w.admin.stages(stale))[-1:] == ["stored"], "stored until its expiration")
            now = await w.admin.clock(advance=120)
            story.step(f"the simulator clock moves 120 s on, past the expiration {deadline}", actor="apns")
            await phone.go_online()
            story.step("the phone comes back online", actor="device")
            stages = await w.admin.wait(stale, "expired,delivered")
            story.step("journey: " + " → ".join(stages), actor="apns")
            story.check(stages[-1:] == ["expired"], "APNs drops the expired notification instead of delivering it")
            story.check(await _nothing_arrives(app), "the app receives nothing")
            live = await send("Goal! 1-0", expiration=0)
            received = await app.next_notification(timeout=10)
            story.check(received.apns_id == live, "online, an expiration-0 push is delivered on its one attempt")

            await story.stage("apns-collapse-id: the latest score replaces the earlier one", "provider")
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id), "the phone is offline again")
            first = await send("Score 2-0", collapse_id="match-42")
            second = await send("Score 2-1", collapse_id="match-42")
            record = await w.admin.notification(first)
            replaced = [s for s in (record or {}).get("journey", []) if s["stage"] == "replaced"]
            story.table("Two pushes with apns-collapse-id match-42",
                        ("apns-id", "alert", "journey"),
                        [(first, "Score 2-0", " → ".join(await w.admin.stages(first))),
                         (second, "Score 2-1", " → ".join(await w.admin.stages(second)))])
            story.check(bool(replaced) and replaced[0].get("by") == second,
                        "the earlier score is replaced by the later one in APNs' storage")
            await phone.go_online()
            received = await app.next_notification(timeout=10)
            story.step(f"the app received {received.payload['aps']['alert']!r}", actor="app")
            story.check(received.apns_id == second and await _nothing_arrives(app),
                        "the phone gets only the latest score")

            await story.stage("apns-collapse-id on the phone: shown as one notification", "device")
            third = await send("Score 3-1", collapse_id="match-42")
            await app.next_notification(timeout=10)
            shown = [(n.apns_id, n.payload["aps"]["alert"]) for n in app.delivered_notifications]
            story.table("Notification Center for " + BUNDLE_ID, ("apns-id", "alert"), shown)
            story.check(shown[-1] == (third, "Score 3-1") and all(a != second for a, _ in shown),
                        "online, the new score replaces the one on screen instead of adding a second")


async def _nothing_arrives(app: object) -> bool:
    try:
        await app.next_notification(timeout=0.5)  # type: ignore[attr-defined]
    except TimeoutError:
        return True
    return False


SCENARIO = Scenario("expiration-and-collapse", "apns-expiration 0 never stored, an expired push dropped on the "
                    "simulator clock, and a collapse id whose latest push replaces the earlier", run)

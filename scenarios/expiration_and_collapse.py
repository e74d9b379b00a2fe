"""``apns-expiration`` and ``apns-collapse-id``: what APNs keeps for an offline phone, and for how long.

Apple (docs/apns-protocol.md §2.1, §11): ``apns-expiration: 0`` means "deliver once, immediately, or
not at all": never stored. A future expiration keeps the notification until then; past it APNs drops it.
Notifications sharing an ``apns-collapse-id`` are shown as one (the phone replaces the one on screen); for
an offline phone APNs keeps only the latest per app anyway (docs/device-side.md §1.10). Time moves on the
simulator's clock (admin API), not by sleeping (docs/style.md habit 3).
"""

from __future__ import annotations

import time

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.scores"
COLLAPSE_ID = "match-42"
# The Notification options this story sets, by the header each becomes on the wire (what a reader looks up).
HEADERS = {"expiration": "apns-expiration", "collapse_id": "apns-collapse-id"}


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _short(apns_id: str) -> str:
    """An apns-id cut to its first group: enough to tell the rows apart, and the table fits 80 columns."""
    return apns_id[:8] + "…"


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("The provider's certificate and the iPhone's token"), "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(_("push certificate for {bundle_id} issued").format(bundle_id=BUNDLE_ID))
        now = await w.admin.clock(freeze=True)
        story.step(_("simulator clock frozen at {time} (it moves only when the story says so)").format(
            time=_utc(now)), actor="apns", clock=now)
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Fan's iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"]) as client:
            app = phone.install_app(BUNDLE_ID, types=("alert", "sound", "badge"))
            token = await app.register()
            story.step(_("{bundle_id} registered: token {token}…").format(bundle_id=BUNDLE_ID, token=token[:16]),
                       actor="app")

            async def send(text: str, **options: object) -> str:
                result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert(text),
                                                        **options))  # type: ignore[arg-type]
                headers = ", ".join(f"{HEADERS[k]}: {v}" for k, v in options.items())
                story.check(result.status == 200 and result.apns_id is not None,
                            _("APNs accepts “{text}” ({headers}): HTTP 200").format(text=text, headers=headers))
                assert result.apns_id is not None
                return result.apns_id

            def journey(stages: list[str]) -> None:
                story.step(_("journey: {stages}").format(stages=told(stages)), actor="apns")

            await story.stage(_("apns-expiration 0: one attempt, never stored"), "provider")
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id), _("the phone is offline"))
            once = await send(_("Kick-off in 1 minute"), expiration=0)
            stages = await w.admin.stages(once)
            journey(stages)
            story.check(stages == ["accepted", "discarded"], _("with the phone offline, APNs discards it at once"))

            await story.stage(_("A future expiration, then the clock passes it"), "provider")
            deadline = int(now) + 60
            stale = await send(_("Half-time: 0-0"), expiration=deadline)
            story.check((await w.admin.stages(stale))[-1:] == ["stored"], _("stored until its expiration"))
            now = await w.admin.clock(advance=120)
            story.step(_("the simulator clock moves 120 s on, to {time}: past the apns-expiration {deadline}").format(
                time=_utc(now), deadline=deadline), actor="apns")
            await phone.go_online()
            story.step(_("the phone comes back online"), actor="device")
            stages = await w.admin.wait(stale, "expired,delivered")
            journey(stages)
            story.check(stages[-1:] == ["expired"], _("APNs drops the expired notification instead of delivering it"))
            story.check(await _nothing_arrives(app), _("the app receives nothing"))
            live = await send(_("Goal! 1-0"), expiration=0)
            received = await app.next_notification(timeout=10)
            story.check(received.apns_id == live, _("online, an expiration-0 push is delivered on its one attempt"))

            await story.stage(_("apns-collapse-id: the latest score replaces the earlier one"), "provider")
            await phone.go_offline()
            story.check(await w.admin.wait_offline(phone.device_id), _("the phone is offline again"))
            earlier, later = _("Score {score}").format(score="2-0"), _("Score {score}").format(score="2-1")
            first = await send(earlier, collapse_id=COLLAPSE_ID)
            second = await send(later, collapse_id=COLLAPSE_ID)
            record = await w.admin.notification(first)
            replaced = [s for s in (record or {}).get("journey", []) if s["stage"] == "replaced"]
            story.table(_("Two pushes with apns-collapse-id {collapse_id}").format(collapse_id=COLLAPSE_ID),
                        ("apns-id", _("alert"), _("journey")),
                        [(_short(first), earlier, told(await w.admin.stages(first))),
                         (_short(second), later, told(await w.admin.stages(second)))])
            story.check(bool(replaced) and replaced[0].get("by") == second,
                        _("the earlier score is replaced by the later one in APNs' storage"))
            await phone.go_online()
            received = await app.next_notification(timeout=10)
            story.step(_("the app received “{alert}”").format(alert=received.payload["aps"]["alert"]), actor="app")
            story.check(received.apns_id == second and await _nothing_arrives(app),
                        _("the phone gets only the latest score"))

            await story.stage(_("apns-collapse-id on the phone: shown as one notification"), "device")
            latest = _("Score {score}").format(score="3-1")
            third = await send(latest, collapse_id=COLLAPSE_ID)
            await app.next_notification(timeout=10)
            shown = [(n.apns_id, n.payload["aps"]["alert"]) for n in app.delivered_notifications]
            story.table(_("Notification Center"),  # of this phone, where only this app shows anything
                        ("apns-id", _("alert")), [(_short(apns_id), text) for apns_id, text in shown])
            story.check(shown[-1] == (third, latest) and all(apns_id != second for apns_id, _text in shown),
                        _("online, the new score replaces the one on screen instead of adding a second"))


async def _nothing_arrives(app: object) -> bool:
    try:
        await app.next_notification(timeout=0.5)  # type: ignore[attr-defined]
    except TimeoutError:
        return True
    return False


SCENARIO = Scenario("expiration-and-collapse", N_("apns-expiration 0 never stored, an expired push dropped on the "
                    "simulator clock, and a collapse id whose latest push replaces the earlier"), run)

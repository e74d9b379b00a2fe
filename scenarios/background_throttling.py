"""Background pushes and their throttling: a few wakes an hour; over budget one is held, the newest.

Apple (docs/device-side.md §2.4, §6 rules 20, 21 and 23): a background push (``content-available: 1``
only, ``apns-push-type: background``, priority 5) wakes an app that has the ``remote-notification`` background
mode, "two or three per hour"; beyond that the system holds one, a newer replacing it, and hands it over when
the user launches the app. A force-quit app gets no background pushes until the user opens it again; alerts
still show. APNs accepts every one of them (200): throttling happens on the phone. The phone's clock is the
story's (docs/style.md habit 3): an hour passes without sleeping.
"""

from __future__ import annotations

import time
from typing import Any

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert, background
from pushsim_i18n import N_, Domain
from pushsim_i18n.phone_reasons import told as told_why
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.sync"
BURST = 5  # one more than the default budget of three an hour, and one more to replace the held one
BUDGET = 3  # background wakes an hour: the simulated phone's default, which this story keeps


class SyncDelegate:
    """The app's fetch handler: records which background pushes woke it."""

    def __init__(self) -> None:
        self.fetched: list[Any] = []

    def did_receive_remote_notification_fetch(self, payload: Any) -> str:
        self.fetched.append(payload.get("n") if isinstance(payload, dict) else None)
        return "new_data"


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("An app with the remote-notification background mode"), "app")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        phone_now = [time.time()]
        delegate = SyncDelegate()
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Background iPhone",
                              clock=lambda: phone_now[0]) as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"]) as client:
            app = phone.install_app(BUNDLE_ID, background_mode=True, delegate=delegate)
            token = await app.register()
            story.step(_("{bundle_id} registered (token {token}…), then suspended in the background; the phone's "
                         "budget: {budget} background wakes an hour (the simulator's default)").format(
                bundle_id=BUNDLE_ID, token=token[:16], budget=BUDGET))

            async def send_background(n: int) -> str:
                result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=background({"n": n}),
                                                        push_type="background", priority=5))
                story.check(result.status == 200 and result.apns_id is not None,
                            _("APNs accepts background push #{n} (HTTP 200)").format(n=n))
                assert result.apns_id is not None
                return result.apns_id

            await story.stage(_("{burst} background pushes within a minute").format(burst=BURST), "provider")
            rows = []
            for n in range(1, BURST + 1):
                apns_id = await send_background(n)
                received = await app.next_notification(timeout=10)
                story.check(received.apns_id == apns_id, _("the phone took push #{n}").format(n=n))
                outcome = _("woke the app") if received.handed_to_app else _("held") if received.held \
                    else _("dropped")
                rows.append((n, outcome, told_why(received.why_not) or "-"))
                phone_now[0] += 10
            story.table(_("What the phone did with each background push"), ("#", _("outcome"), _("why")), rows)
            story.check(delegate.fetched == [1, 2, 3], _("the first three woke the app's fetch handler"))
            story.check([r[1] for r in rows[3:]] == [_("held"), _("held")] and app.held_background_push is not None
                        and app.held_background_push.payload["n"] == BURST,
                        _("over budget, the phone holds one: the newest (#5 replaced #4)"))

            await story.stage(_("The user opens the app"), "app")
            app.launch()
            story.step(_("the app is launched into the foreground; the held push is handed over"), state=app.state)
            story.check(app.state == "foreground", _("the app is in the foreground"))
            story.check(delegate.fetched == [1, 2, 3, BURST] and app.held_background_push is None,
                        _("at launch the fetch handler gets the held push, #5; #4 never arrives"))

            await story.stage(_("An hour later, in the background again: the budget is back"), "device")
            app.move_to_background()
            phone_now[0] += 3600
            await send_background(6)
            received = await app.next_notification(timeout=10)
            story.check(received.handed_to_app and delegate.fetched[-1] == 6, _("push #6 wakes the app again"))

            await story.stage(_("The user force-quits the app"), "app")
            app.force_quit()
            phone_now[0] += 3600
            await send_background(7)
            dropped = await app.next_notification(timeout=10)
            story.step(_("push #7: {why}").format(why=told_why(dropped.why_not)), actor="device")
            story.check(not dropped.handed_to_app and not dropped.held and delegate.fetched[-1] == 6,
                        _("a force-quit app gets no background pushes, not even held"))
            paused = _("Sync paused")
            result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert(paused)))
            shown = (await app.next_notification(timeout=10)).presentation
            story.check(result.status == 200 and shown.alert == paused, _("but its alerts still show"))


SCENARIO = Scenario("background-throttling", N_("background pushes: three wakes an hour, then the newest is held "
                    "until launch; an hour later the budget is back; a force-quit app gets none"), run)

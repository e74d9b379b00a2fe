"""Token-based authentication: a ``.p8`` key, a JWT per connection, refreshed before the hour runs out.

Apple (docs/apns-protocol.md §5): the provider signs a JWT (ES256, ``kid`` = Key ID, ``iss`` = Team ID,
``iat`` = now) with the team's ``.p8`` key and sends it as ``authorization: bearer``. APNs refuses a token
older than one hour (403 ``ExpiredProviderToken``) and one renewed more often than every 20 minutes, so a
provider renews it in between (the provider here: after 50 minutes, as pushy and apns2 do). The hour passes on
the simulator's clock, which the provider also reads, instead of by sleeping (docs/style.md habit 3).
"""

from __future__ import annotations

import time

from apns_sim import pki
from device_sim import Phone
from provider.apns import APNsClient, Notification, alert, load_p8
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import TEAM_ID, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.tokens"
STEP = 55 * 60  # past the provider's 50-minute refresh, short of Apple's hour


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("The portal: an App ID and an APNs auth key (.p8)"), "portal")
        story.step(w.portal.create_app_id(BUNDLE_ID, TEAM_ID).summary)
        key = w.portal.create_auth_key(TEAM_ID)
        p8_path = w.work / key.filename
        pki.write_private(p8_path, key.p8)
        story.step(_("{filename} downloaded (key id {key_id}, team {team_id}); Apple shows it only once").format(
            filename=key.filename, key_id=key.key_id, team_id=TEAM_ID))
        story.check(p8_path.stat().st_mode & 0o777 == 0o600, _("the .p8 key is readable by its owner only"))
        credentials = load_p8(p8_path, key.key_id, TEAM_ID)
        story.step(_("the provider loads the .p8: no certificate, one key for every app of the team"),
                   actor="provider")

        start = await w.admin.clock(freeze=True)
        sim_now = [start]
        story.step(_("simulator clock frozen at {time}; the provider reads the same clock").format(
            time=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start))), actor="apns", clock=start)

        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Token iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"],
                           clock=lambda: sim_now[0]) as client:
            app = phone.install_app(BUNDLE_ID)
            token = await app.register()
            story.step(_("{bundle_id} registered: token {token}…").format(bundle_id=BUNDLE_ID, token=token[:16]),
                       actor="app")
            rows: list[tuple[str, str, str, str]] = []

            async def push(label: str, sender: APNsClient) -> tuple[int, str | None, list[str]]:
                result = await sender.send(Notification(token=token, topic=BUNDLE_ID, payload=alert(label)))
                stages = await w.admin.stages(result.apns_id or "")
                minutes = (sim_now[0] - start) / 60
                rows.append((label, _("+{minutes} min").format(minutes=round(minutes)),
                             f"{result.status} {result.reason or ''}".rstrip(), told(stages)))
                answer = _("“{label}”: HTTP {status} {reason}") if result.reason else _("“{label}”: HTTP {status}")
                story.step(answer.format(label=label, status=result.status, reason=result.reason),
                           actor="provider")
                return result.status, result.reason, stages

            await story.stage(_("First push: the provider signs a JWT (iat = now)"), "provider")
            first = _("first push")
            status, _reason, stages = await push(first, client)
            story.check(status == 200 and "rejected" not in stages, _("APNs verifies the JWT and accepts the push"))
            story.check((await app.next_notification(timeout=10)).payload["aps"]["alert"] == first,
                        _("the app receives it"))

            await story.stage(_("55 minutes later: the provider has renewed its token"), "provider")
            sim_now[0] = await w.admin.clock(advance=STEP)
            status, _reason, stages = await push(_("after 55 min"), client)
            story.check(status == 200 and "rejected" not in stages,
                        _("accepted on the first attempt: the JWT was renewed after 50 minutes, before APNs' hour"))

            await story.stage(_("110 minutes after the first token: still fine"), "provider")
            sim_now[0] = await w.admin.clock(advance=STEP)
            status, _reason, stages = await push(_("after 110 min"), client)
            story.check(status == 200 and "rejected" not in stages,
                        _("accepted: the first JWT would be 110 minutes old, the renewed one is not"))

            await story.stage(_("A provider that never renews: 403 ExpiredProviderToken"), "provider")
            async with APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"],
                                  clock=lambda: start, max_attempts=1) as stale:
                status, reason, stages = await push(_("stale JWT"), stale)
            story.check(status == 403 and reason == "ExpiredProviderToken" and stages == ["rejected"],
                        _("a JWT with iat 110 minutes ago is refused with 403 ExpiredProviderToken"))
            story.table(_("Pushes with token authentication (simulator time since the first JWT)"),
                        (_("push"), _("time"), _("answer"), _("journey")), rows)


SCENARIO = Scenario("token-auth", N_("a .p8 auth key and JWT provider tokens: renewed before the hour on the "
                    "simulator clock; a token never renewed gets 403 ExpiredProviderToken"), run)

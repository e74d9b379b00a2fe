"""A load story: a fleet of iPhones, one push to each, every one delivered exactly once.

Each phone of the fleet is a phone as far as APNs can tell: its own activation and device certificate, its own
courier TLS connection, a token for the app, an acknowledgement per push (docs/device-side.md §1.5-§1.10). The
provider sends over one HTTP/2 connection with many concurrent streams (docs/apns-protocol.md §7: reuse connections,
keep many streams in flight). ``PUSHSIM_FLEET`` sets the fleet size (default 100; the fleet benchmark goes
to 10,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

from device_sim.fleet.fleet import Fleet, FleetPhone, FleetProgress
from provider.apns import APNsClient, Notification, alert
from pushsim_i18n import N_, Domain
from scenarios.kit import push_certificate, send_all, world
from scenarios.runner import Scenario
from scenarios.story import Story, Tracker, UsageError

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.fleet"
PHASES = {"identities": N_("identities ({total} phones)"), "connecting": N_("connecting ({total} phones)")}


def fleet_size(raw: str | None) -> int:
    """``PUSHSIM_FLEET``: how many phones, 100 when unset."""
    if raw is None or not raw.strip():
        return 100
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(_("PUSHSIM_FLEET must be a whole number of phones, at least 1, not {raw!r}").format(raw=raw))
    return count


async def run(story: Story) -> None:
    """Every time it prints comes from one clock per interval (issue 16: the bars, the step and the table
    disagreed, each timing its own slightly different interval): the fleet's own report of each phase, the
    sending's bar, and the acknowledgements counted from the first send, as the table says."""
    count = fleet_size(os.environ.get("PUSHSIM_FLEET"))
    async with world(story) as w:
        await story.stage(_("The provider's certificate"), "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(_("push certificate for {bundle} issued").format(bundle=BUNDLE_ID))

        await story.stage(_("A fleet of {count} iPhones activates and connects").format(count=count), "device")
        bars: dict[str, Tracker] = {}
        last: dict[str, FleetProgress] = {}  # each phase's latest report: its elapsed is the phase's time

        def progress(p: FleetProgress) -> None:
            if p.phase not in bars:
                for phase, other in bars.items():
                    other.close(round(last[phase].elapsed, 3))  # as printed everywhere: see below
                bars[p.phase] = story.tracker(_(PHASES.get(p.phase, p.phase)).format(total=p.total), p.total)
            last[p.phase] = p
            bars[p.phase].update(p.done)

        per_phone: Counter[str] = Counter()

        def pushed(phone: FleetPhone, push: object) -> None:
            per_phone[phone.device_id] += 1

        opening = time.monotonic()
        async with Fleet.open(w.endpoints, count=count, app=BUNDLE_ID, state_dir=w.work / "fleet",
                              concurrency=50, progress=progress, on_push=pushed) as fleet:
            opened_s = time.monotonic() - opening
            for phase, bar in bars.items():
                bar.close(round(last[phase].elapsed, 3))
            # Each figure rounded once, to the JSON's milliseconds, so the bars, the step and the table print the
            # same number (a raw 0.0155 s is "0.02s" but its JSON 0.015 reads "0.01s").
            identities_s = round(last["identities"].elapsed, 3) if "identities" in last else 0.0
            connect_s = round(last["connecting"].elapsed, 3) if "connecting" in last else 0.0
            tokens = fleet.tokens
            story.step(_("{connected} phones connected; identities (RSA keys + activation) {identities}s, "
                         "connections and tokens {connect}s").format(
                connected=fleet.connected, identities=f"{identities_s:.2f}", connect=f"{connect_s:.2f}"),
                timings={**fleet.timings, "identities_s": identities_s, "connect_s": connect_s})
            story.check(fleet.connected == count and fleet.failed == 0,
                        _("all {count} phones are online").format(count=count))
            story.check(len(set(tokens)) == count,
                        _("{count} distinct device tokens, one per phone").format(count=count))
            story.check(identities_s + connect_s <= opened_s,
                        _("the two phases ({identities}s + {connect}s) fit in the fleet's start-up ({opened}s)").format(
                            identities=f"{identities_s:.2f}", connect=f"{connect_s:.2f}", opened=f"{opened_s:.2f}"))

            await story.stage(_("The provider sends one push to each of the {count} tokens").format(count=count),
                              "provider", number=1)
            notifications = [Notification(token=t, topic=BUNDLE_ID, payload=alert(f"Hello phone {i}"))
                             for i, t in enumerate(tokens)]
            async with APNsClient(credentials, endpoint=w.endpoints["sandbox"],
                                  ca_file=w.endpoints["ca_file"]) as client:
                started = time.monotonic()
                statuses, send_s = await send_all(story, client, notifications, _("pushes accepted"))
            story.check(statuses == [200] * count, _("APNs accepted all {count}").format(count=count))

            await story.stage(_("APNs delivers; every phone acknowledges"), "apns", number=2)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            # Counted from the first send, as the table says: phones acknowledge while the sending goes on.
            acked = story.tracker(_("pushes acknowledged (since the first send)"), count)
            while fleet.received < count and loop.time() < deadline:
                acked.update(fleet.received)
                await asyncio.sleep(0.02)
            acked.update(fleet.received)
            deliver_s = round(time.monotonic() - started, 3)
            acked.close(deliver_s)
            story.table(_("Load"), (_("phones"), _("connections and tokens"), _("push rate (accepted)"),
                                    _("all acknowledged, from the first send"), _("received"), _("max per phone")),
                        [(count, f"{connect_s:.2f}s", f"{count / send_s:.0f}/s", f"{deliver_s:.2f}s",
                          fleet.received, max(per_phone.values(), default=0))])
            story.check(fleet.received == count and len(per_phone) == count and set(per_phone.values()) == {1},
                        _("every phone received its push exactly once"))
            story.check(send_s <= deliver_s, _("the sending ({send}s) lies within the time to the last "
                                               "acknowledgement ({deliver}s)").format(send=f"{send_s:.2f}",
                                                                                      deliver=f"{deliver_s:.2f}"))


SCENARIO = Scenario("load-fleet", N_("a fleet of iPhones (100 by default) activates and connects with progress "
                    "bars; one push to each token, every one delivered exactly once"), run)

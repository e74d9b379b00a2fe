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
from scenarios.kit import push_certificate, send_all, world
from scenarios.runner import Scenario
from scenarios.story import Story, Tracker, UsageError

BUNDLE_ID = "com.example.fleet"


def fleet_size(raw: str | None) -> int:
    """``PUSHSIM_FLEET``: how many phones, 100 when unset."""
    if raw is None or not raw.strip():
        return 100
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"PUSHSIM_FLEET must be a whole number of phones, at least 1, not {raw!r}")
    return count


async def run(story: Story) -> None:
    count = fleet_size(os.environ.get("PUSHSIM_FLEET"))
    async with world(story) as w:
        await story.stage("The provider's certificate", "portal")
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        story.step(f"push certificate for {BUNDLE_ID} issued")

        await story.stage(f"A fleet of {count} iPhones activates and connects", "device")
        bars: dict[str, Tracker] = {}

        def progress(p: FleetProgress) -> None:
            if p.phase not in bars:
                for other in bars.values():
                    other.close()
                bars[p.phase] = story.tracker(f"{p.phase} ({p.total} phones)", p.total)
            bars[p.phase].update(p.done)

        per_phone: Counter[str] = Counter()

        def pushed(phone: FleetPhone, push: object) -> None:
            per_phone[phone.device_id] += 1

        async with Fleet.open(w.endpoints, count=count, app=BUNDLE_ID, state_dir=w.work / "fleet",
                              concurrency=50, progress=progress, on_push=pushed) as fleet:
            for bar in bars.values():
                bar.close()
            timings = fleet.timings
            tokens = fleet.tokens
            story.step(f"{fleet.connected} phones connected; identities (RSA keys + activation) "
                       f"{timings.get('identities_s', 0):.2f}s, connections and tokens "
                       f"{timings.get('connect_s', 0):.2f}s", timings=timings)
            story.check(fleet.connected == count and fleet.failed == 0, f"all {count} phones are online")
            story.check(len(set(tokens)) == count, f"{count} distinct device tokens, one per phone")

            await story.stage(f"The provider sends one push to each of the {count} tokens", "provider")
            notifications = [Notification(token=t, topic=BUNDLE_ID, payload=alert(f"Hello phone {i}"))
                             for i, t in enumerate(tokens)]
            async with APNsClient(credentials, endpoint=w.endpoints["sandbox"],
                                  ca_file=w.endpoints["ca_file"]) as client:
                started = time.monotonic()
                statuses = await send_all(story, client, notifications, "pushes accepted")
                send_s = time.monotonic() - started
            story.check(statuses == [200] * count, f"APNs accepted all {count}")

            await story.stage("APNs delivers; every phone acknowledges", "apns")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            with story.progress("pushes acknowledged", count) as bar:
                while fleet.received < count and loop.time() < deadline:
                    bar.update(fleet.received)
                    await asyncio.sleep(0.02)
                bar.update(fleet.received)
            deliver_s = time.monotonic() - started
            story.table("Load", ("phones", "connect", "push rate (accepted)", "all delivered after",
                                 "received", "max per phone"),
                        [(count, f"{timings.get('connect_s', 0):.2f}s", f"{count / send_s:.0f}/s",
                          f"{deliver_s:.2f}s", fleet.received, max(per_phone.values(), default=0))])
            story.check(fleet.received == count and len(per_phone) == count and set(per_phone.values()) == {1},
                        "every phone received its push exactly once")


SCENARIO = Scenario("load-fleet", "a fleet of iPhones (100 by default) activates and connects with progress "
                    "bars; one push to each token, every one delivered exactly once", run)

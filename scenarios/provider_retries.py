"""The provider under injected faults: 503 and 429 bursts, a GOAWAY, random failures; nothing is lost.

Apple (docs/apns-protocol.md §4.4, §7): 429 ``TooManyRequests``, 500 and 503 are worth retrying after a
back-off; a GOAWAY means the streams after its last stream id were not processed and may be sent again on a
new connection. Every attempt carries the same ``apns-id``, so the notification keeps one identity end to end
(docs/architecture.md). The faults come from the simulator's ``/_sim/faults`` (README "Admin API").
"""

from __future__ import annotations

import json
import time
from typing import Any

from device_sim import Phone
from provider.apns import APNsClient, Notification, alert
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import push_certificate, send_all, short_id, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext
ngettext = Domain("scenarios").ngettext

BUNDLE_ID = "com.example.retries"
BURST = 30
PHASES: list[tuple[str, dict[str, Any]]] = [
    (N_("two 503 ServiceUnavailable"), {"kind": "reason", "status": 503, "count": 2}),
    (N_("two 429 TooManyRequests"), {"kind": "reason", "reason": "TooManyRequests", "count": 2}),
    (N_("a GOAWAY before the stream"), {"kind": "goaway", "reason": "Shutdown", "count": 1}),
    (N_("a REFUSED_STREAM reset"), {"kind": "rst_stream", "error_code": "REFUSED_STREAM", "count": 1}),
]


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("A provider with retries, and an iPhone"), "provider", number=1)
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Patient iPhone") as phone, \
                APNsClient(credentials, endpoint=w.endpoints["sandbox"], ca_file=w.endpoints["ca_file"],
                           max_attempts=8, backoff=0.05) as client:
            app = phone.install_app(BUNDLE_ID)
            token = await app.register()
            story.step(_("{bundle} registered: token {token}…").format(bundle=BUNDLE_ID, token=token[:16]), actor="app")
            story.step(_("provider: up to 8 attempts, exponential back-off from 50 ms with jitter, same apns-id"))

            rows: list[tuple[str, str, int, int, str, str]] = []
            for label, rule in PHASES:
                await story.stage(_("Fault: {fault}").format(fault=_(label)), "apns", number=1)
                fault_ids = await w.admin.add_faults({**rule, "topic": BUNDLE_ID})
                story.step(_("POST /_sim/faults {rule}: fault {fault} added").format(
                    rule=as_json({**rule, "topic": BUNDLE_ID}), fault=fault_ids[0]))
                result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=alert(label)))
                story.step(_("the provider's client got {status} for apns-id {apns_id}").format(
                    status=result.status, apns_id=result.apns_id), actor="provider")
                received = await app.next_notification(timeout=10)
                record = await w.admin.notification(result.apns_id or "")
                journey = (record or {}).get("journey", [])
                faults = sum(1 for s in journey if "fault" in s)  # each attempt a fault took over
                story.step(_("journey: {stages}").format(stages=" → ".join(_stage(s) for s in journey)))
                # The apns-id shortened, as the dashboard does: a whole UUID in a column wraps at 80 columns
                # (issue 16); the steps above carry it in full.
                rows.append((_(label), short_id(result.apns_id or ""), faults, faults + 1, f"{result.status}",
                             "✓" if received.apns_id == result.apns_id else "✗"))
                story.check(result.status == 200 and faults == int(rule["count"]),
                            ngettext("after {faults} injected failure the retry is accepted",
                                     "after {faults} injected failures the retry is accepted", faults).format(
                                faults=faults))
                story.check(received.apns_id == result.apns_id,
                            _("the app receives it once, with the apns-id of the first attempt"))
            story.table(_("Retries, one notification per fault, one apns-id for all its attempts"),
                        (_("fault"), "apns-id", _("failures"), _("attempts"), _("final"),
                         _("delivered")), rows)

            await story.stage(_("A burst of {count} pushes while {share} of requests fail with 503").format(
                count=BURST, share="30%"), "provider", number=1)
            burst = {"kind": "reason", "status": 503, "probability": 0.3, "topic": BUNDLE_ID}
            await w.admin.add_faults(burst, seed=8)
            story.step(_("POST /_sim/faults {rule}, seed 8 (reproducible)").format(rule=as_json(burst)), actor="apns")
            began = time.monotonic()
            notifications = [Notification(token=token, topic=BUNDLE_ID, payload=alert(f"burst {i}")).with_apns_id()
                             for i in range(BURST)]
            statuses, _seconds = await send_all(story, client, notifications, _("pushes accepted"))
            story.check(statuses == [200] * BURST, _("all {count} accepted in the end").format(count=BURST))
            sent = {n.apns_id for n in notifications}
            got: list[str] = []
            bar = story.tracker(_("notifications received"), BURST)
            while len(got) < BURST:
                got.append((await app.next_notification(timeout=10)).apns_id)
                bar.advance()
            # Most arrived while the pushes were still being sent: the time from the burst's start to the last
            # arrival, not the instant it took to read them from the app's queue afterwards (issue 16: 0.00s).
            bar.close(seconds=time.monotonic() - began)
            plan = await w.admin.faults()
            hits = sum(f["hits"] for f in plan if f.get("probability") is not None)
            story.step(_("the simulator failed {hits} requests of the burst; the provider retried each").format(
                hits=hits), actor="apns")
            story.check(hits > 0, _("the burst really met failures"))
            story.check(set(got) == sent and len(got) == len(set(got)),
                        _("every notification arrived exactly once, with its own apns-id: nothing lost, no duplicate"))



def as_json(rule: dict[str, Any]) -> str:
    """The admin API's request body as JSON on one line, not Python's ``{'kind': ...}``; with a space after
    each comma, so a narrow terminal can wrap it between fields rather than inside a word."""
    return json.dumps(rule, ensure_ascii=False)


def _stage(stage: dict[str, Any]) -> str:
    """``rejected (503 ServiceUnavailable, fault f1)``: the stage, in the reader's language, with what the fault
    did (status, Apple's reason word and the fault's kind stay as the admin API gives them)."""
    name = told([str(stage["stage"])])
    details = " ".join(str(stage[k]) for k in ("status", "reason", "kind") if k in stage)
    if "fault" in stage:
        return _("{stage} ({details}, fault {fault})").format(stage=name, details=details, fault=stage["fault"])
    return _("{stage} ({details})").format(stage=name, details=details) if details else name


SCENARIO = Scenario("provider-retries", N_("503 and 429 bursts, a GOAWAY and REFUSED_STREAM injected: the provider "
                    "retries with the same apns-id and nothing is lost"), run)

"""The Quickstart demo: Apple's three stages, end to end, over mutual TLS.

(1) The provider packs the message with the target iPhone's device token and sends it to APNs; (2) APNs finds
the iPhone among those registered and connected and sends it on; (3) the iPhone hands it to the app, which
shows it as the app registered for (alert, sound, badge). Every leg uses certificates.

With ``--step`` (docs/scenarios.md "Teacher mode") the simulator holds each stage until the presenter moves
on: pushes wait at APNs during stage 1, and the phone keeps what it received from its app during stage 2, so
the dashboard shows exactly the stage the narration has reached.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from apns_sim.simulator import Simulator
from device_sim import Phone
from provider.apns.credentials import load_cer_and_p12
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import PASSWORD, TEAM_ID, get_json, portal_of, post_json, provider_service, shown
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.pushchat"


class TokenForwarder:
    """The app's delegate: on ``didRegisterForRemoteNotificationsWithDeviceToken:`` (here
    ``did_register_for_remote_notifications``) it sends the token to the provider, as a real app does."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.token: str | None = None
        self.error: Any = None

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.token = token
        # Apple's name for the callback, as the tutorial gives it (tutorial-path says it the same way)
        self.story.step(_("the app's didRegisterForRemoteNotificationsWithDeviceToken: is called with the device "
                          "token {token}").format(token=token[:16] + "…"), actor="app")

    def did_fail_to_register_for_remote_notifications(self, error: Any) -> None:
        self.error = error
        self.story.step(_("didFailToRegisterForRemoteNotificationsWithError: {error}").format(error=error),
                        actor="app")


async def run(story: Story) -> None:
    with tempfile.TemporaryDirectory(prefix="pushsim-demo-") as tmp:
        work = Path(tmp)
        async with Simulator(work / "apns") as sim:
            endpoints = sim.endpoints
            await story.stage(_("Setup: the simulated Apple is running"))
            story.step(_("provider API (sandbox) at {sandbox}, production at {production}").format(
                sandbox=endpoints["sandbox"], production=endpoints["production"]), endpoints=endpoints)
            story.step(_("device gateway at {gateway}, admin and dashboard at {admin}").format(
                gateway=endpoints["gateway"], admin=endpoints["admin"]))

            await story.stage(_("Certificates: Keychain, App ID, push certificate"), "portal")
            portal = portal_of(sim)
            request = portal.make_csr("developer@example.com", "PushChat Developer", PASSWORD)
            csr_path, p12_path = work / request.csr_filename, work / request.p12_filename
            csr_path.write_bytes(request.csr_pem)
            p12_path.write_bytes(request.p12)
            p12_path.chmod(0o600)
            story.step(_("Keychain Access: new key pair, {csr}, private key exported as {p12} "
                         "(password-protected)").format(csr=request.csr_filename, p12=request.p12_filename))
            story.step(portal.create_app_id(BUNDLE_ID, TEAM_ID).summary)
            issued = portal.issue_certificate(BUNDLE_ID, request.csr_pem, "sandbox")
            cer_path = work / issued.filename
            cer_path.write_bytes(issued.der)
            story.step(_("portal: CSR in, {cer} out (UID={bundle}, OU={team}, sandbox OID)").format(
                cer=issued.filename, bundle=BUNDLE_ID, team=TEAM_ID))
            credentials = load_cer_and_p12(cer_path, p12_path, PASSWORD)
            story.check(credentials.bundle_id == BUNDLE_ID, _("the provider reads the .cer + Push.p12 pair"))

            async with provider_service(sim, credentials, work) as provider_url:
                story.step(_("provider service listening at {url}").format(url=provider_url), actor="provider")

                await story.stage(_("The iPhone: activation and the persistent connection to APNs"), "device")
                async with Phone.open(endpoints, state_dir=work / "iphone", name="Demo iPhone") as phone:
                    story.step(_("iPhone activated: device certificate for {device}").format(device=phone.device_id))
                    story.step(_("iPhone connected to APNs over TLS (courier) and authenticated with it"))

                    delegate = TokenForwarder(story)
                    app = phone.install_app(BUNDLE_ID, environment="development",
                                            types=("alert", "sound", "badge"), delegate=delegate)
                    story.step(_("app {bundle} installed; it registers for alert, sound and badge").format(
                        bundle=BUNDLE_ID), actor="app")
                    token = await app.register()
                    story.check(delegate.token == token and len(token) == 64,
                                _("the app received a device token of 64 hex digits in "
                                  "didRegisterForRemoteNotificationsWithDeviceToken:"))

                    status, body = await post_json(f"{provider_url}/v1/devices", {
                        "token": token, "bundle_id": BUNDLE_ID, "environment": "sandbox", "user_id": "alice",
                    })
                    story.check(status in (200, 201),
                                _("the app sent its token to the provider (HTTP {status})").format(status=status))

                    await story.stage(_("Stage 1: the provider packs the message with the target iPhone's device "
                                        "token and sends it to APNs"), "provider", number=1)
                    if story.teaching:  # hold stage 2 and 3 back until the presenter reaches them
                        sim.hold_delivery()
                        phone.hold_presentation()
                    story.step(_("POST /v1/notifications to the provider service; it sends to APNs over HTTP/2 "
                                 "with mutual TLS, for device token {token}…").format(token=token[:16]))
                    payload = {"aps": {"alert": {"title": "PushChat", "body": _("Hello from your provider")},
                                       "sound": "default", "badge": 1}}
                    status, body = await post_json(f"{provider_url}/v1/notifications",
                                                   {"bundle_id": BUNDLE_ID, "user_id": "alice", "payload": payload})
                    results = body.get("results", []) if isinstance(body, dict) else []
                    answers = ", ".join(f"HTTP {r['status']}" for r in results) or _("no answer")
                    story.check(status == 200 and len(results) == 1 and results[0]["status"] == 200,
                                _("APNs accepted the notification ({answers})").format(answers=answers))
                    apns_id = results[0]["apns_id"]
                    story.step(_("APNs answered 200 with apns-id {apns_id}").format(apns_id=apns_id), apns_id=apns_id)

                    await story.stage(_("Stage 2: APNs finds the iPhone among those registered and connected, "
                                        "and sends the notification on"), "apns", number=2)
                    sim.hold_delivery(False)
                    stages = await _wait(endpoints["admin"], apns_id, "acknowledged")
                    story.step(_("APNs found {device} connected and delivered {apns_id}; the iPhone acknowledged "
                                 "it").format(device=phone.device_id, apns_id=apns_id))
                    story.check("delivered" in stages and "acknowledged" in stages,
                                _("the iPhone received the notification and acknowledged it"))

                    await story.stage(_("Stage 3: the iPhone hands it to the app, which shows it as it registered "
                                        "for"), "app", number=3)
                    phone.release_presentation()
                    received = await app.next_notification(timeout=10)
                    story.step(_("iPhone handed {apns_id} to {bundle}").format(apns_id=received.apns_id,
                                                                              bundle=BUNDLE_ID), actor="device")
                    presented = received.presentation
                    story.step(shown(presented.alert, presented.sound, presented.badge))
                    story.check(received.apns_id.lower() == apns_id.lower(), _("the same apns-id end to end"))
                    story.check(presented.alert is not None and presented.sound == "default" and presented.badge == 1,
                                _("alert shown, sound played and badge set, as registered"))

                    stages = await _wait(endpoints["admin"], apns_id, "presented")
                    story.step(_("journey: {stages}").format(stages=told(stages)))
                    story.check(stages[:1] == ["accepted"] and "delivered" in stages and "presented" in stages,
                                _("the simulator recorded the whole journey"))
                    await story.linger(endpoints["admin"])


async def _wait(admin: str, apns_id: str, stage: str) -> list[str]:
    """The notification's journey once it reached ``stage`` (the admin API's long poll), as stage names."""
    status, journey = await get_json(f"{admin}/_sim/notifications/wait?apns_id={apns_id}&stage={stage}&timeout=5")
    return [s["stage"] for s in journey.get("journey", [])] if status == 200 else []


SCENARIO = Scenario("three-stages", N_("the Quickstart demo: CSR to certificate, iPhone, app, provider, APNs, "
                    "delivery and presentation over mutual TLS"), run)

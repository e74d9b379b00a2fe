"""The Quickstart demo: Apple's three stages, end to end, over mutual TLS.

(1) The provider packs the message and the device token and sends them to APNs; (2) APNs finds the device
among those connected to it and delivers; (3) the iPhone hands the message to the app, which presents it as
it registered for (alert, sound, badge). Every leg uses certificates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from apns_sim.simulator import Simulator
from device_sim import Phone
from provider.apns.credentials import load_cer_and_p12
from scenarios.kit import PASSWORD, TEAM_ID, get_json, portal_of, post_json, provider_service
from scenarios.runner import Scenario
from scenarios.story import Story

BUNDLE_ID = "com.example.pushchat"


class TokenForwarder:
    """The app's delegate: on ``did_register...`` it sends the token to the provider, as a real app does."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.token: str | None = None
        self.error: Any = None

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.token = token
        self.story.step(f"app callback did_register_for_remote_notifications(token={token[:16]}…)", actor="app")

    def did_fail_to_register_for_remote_notifications(self, error: Any) -> None:
        self.error = error
        self.story.step(f"app callback did_fail_to_register_for_remote_notifications({error})", actor="app")


async def run(story: Story) -> None:
    with tempfile.TemporaryDirectory(prefix="pushsim-demo-") as tmp:
        work = Path(tmp)
        async with Simulator(work / "apns") as sim:
            endpoints = sim.endpoints
            await story.stage("Setup: the simulated Apple is running")
            story.step(f"provider API (sandbox) at {endpoints['sandbox']}, production at {endpoints['production']}")
            story.step(f"device gateway at {endpoints['gateway']}, admin and dashboard at {endpoints['admin']}")

            await story.stage("Certificates: Keychain, App ID, push certificate", "portal")
            portal = portal_of(sim)
            request = portal.make_csr("developer@example.com", "PushChat Developer", PASSWORD)
            csr_path, p12_path = work / request.csr_filename, work / request.p12_filename
            csr_path.write_bytes(request.csr_pem)
            p12_path.write_bytes(request.p12)
            p12_path.chmod(0o600)
            story.step(f"Keychain Access: new key pair, {request.csr_filename}, private key exported as "
                       f"{request.p12_filename} (password-protected)")
            story.step(portal.create_app_id(BUNDLE_ID, TEAM_ID).summary)
            issued = portal.issue_certificate(BUNDLE_ID, request.csr_pem, "sandbox")
            cer_path = work / issued.filename
            cer_path.write_bytes(issued.der)
            story.step(f"portal: CSR in, {issued.filename} out (UID={BUNDLE_ID}, OU={TEAM_ID}, sandbox OID)")
            credentials = load_cer_and_p12(cer_path, p12_path, PASSWORD)
            story.check(credentials.bundle_id == BUNDLE_ID, "the provider reads the .cer + Push.p12 pair")

            async with provider_service(sim, credentials, work) as provider_url:
                story.step(f"provider service listening at {provider_url}", actor="provider")

                await story.stage("The iPhone: activation and the persistent connection to APNs", "device")
                async with Phone.open(endpoints, state_dir=work / "iphone", name="Demo iPhone") as phone:
                    story.step(f"iPhone activated: device certificate for {phone.device_id}")
                    story.step("iPhone connected to APNs over TLS (courier) and authenticated with it")

                    delegate = TokenForwarder(story)
                    app = phone.install_app(BUNDLE_ID, environment="development",
                                            types=("alert", "sound", "badge"), delegate=delegate)
                    story.step(f"app {BUNDLE_ID} installed; it registers for alert, sound and badge", actor="app")
                    token = await app.register()
                    story.check(delegate.token == token and len(token) == 64,
                                "the app received its device token through did_register…")

                    status, body = await post_json(f"{provider_url}/v1/devices", {
                        "token": token, "bundle_id": BUNDLE_ID, "environment": "sandbox", "user_id": "alice",
                    })
                    story.check(status in (200, 201), f"the app sent its token to the provider (HTTP {status})")

                    await story.stage("Stage 1: the provider sends the notification to APNs (HTTP/2, mutual TLS)",
                                      "provider")
                    payload = {"aps": {"alert": {"title": "PushChat", "body": "Hello from your provider"},
                                       "sound": "default", "badge": 1}}
                    status, body = await post_json(f"{provider_url}/v1/notifications",
                                                   {"bundle_id": BUNDLE_ID, "user_id": "alice", "payload": payload})
                    results = body.get("results", []) if isinstance(body, dict) else []
                    answers = ", ".join(f"HTTP {r['status']}" for r in results) or "no answer"
                    story.check(status == 200 and len(results) == 1 and results[0]["status"] == 200,
                                f"APNs accepted the notification ({answers})")
                    apns_id = results[0]["apns_id"]
                    story.step(f"APNs answered 200 with apns-id {apns_id}")

                    await story.stage("Stage 2 and 3: APNs delivers; the iPhone hands it to the app, which presents it",
                                      "apns")
                    received = await app.next_notification(timeout=10)
                    story.step(f"iPhone received {received.apns_id} and handed it to {BUNDLE_ID}", actor="device")
                    presented = received.presentation
                    story.step(actor="app", text=f"presented: alert={presented.alert!r}, sound={presented.sound!r}, "
                               f"badge={presented.badge!r}")
                    story.check(received.apns_id.lower() == apns_id.lower(), "the same apns-id end to end")
                    story.check(presented.alert is not None and presented.sound == "default" and presented.badge == 1,
                                "alert shown, sound played and badge set, as registered")

                    status, journey = await get_json(f"{endpoints['admin']}/_sim/notifications/wait?"
                                                     f"apns_id={apns_id}&stage=presented&timeout=5")
                    stages = [s["stage"] for s in journey.get("journey", [])] if status == 200 else []
                    story.step("journey: " + " → ".join(stages))
                    story.check(stages[:1] == ["accepted"] and "delivered" in stages and "presented" in stages,
                                "the simulator recorded the whole journey")


SCENARIO = Scenario("three-stages", "the Quickstart demo: CSR to certificate, iPhone, app, provider, APNs, "
                    "delivery and presentation over mutual TLS", run)

"""The tutorial's second callback: when registration fails, ``didFailToRegisterForRemoteNotificationsWithError:``.

Three ways iOS refuses a device token, each with iOS's own NSError (docs/device-side.md §4, "Registration error
cases"; §6 rule 10): an app built without the Push Notifications capability (no ``aps-environment``
entitlement: NSCocoaErrorDomain 3000), an old iOS Simulator (before Xcode 14 / iOS 16: 3010), and the same on
demand from the command line, ``device-sim register --fail-with CODE`` (docs/cli.md). Each time the app's
failure callback is called and nothing goes to the provider: a correct app logs the error, carries on without
push and registers again at its next launch; once the capability is on, the next registration succeeds and
only then does the token reach the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from device_sim import Phone, RegistrationError
from pushsim_i18n import N_, Domain
from scenarios.kit import World, get_json, post_json, provider_service, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.pushchat"
ENTITLEMENT_TEXT = "no valid \u201caps-environment\u201d entitlement string found for application"


class CorrectApp:
    """A correct app's delegate: the token goes to the provider only from ``didRegister…``; ``didFail…`` logs the
    error, sends nothing, and leaves the app working without push until its next launch."""

    def __init__(self, story: Story, provider_url: str) -> None:
        self.story = story
        self.provider_url = provider_url
        self.errors: list[RegistrationError] = []
        self.sent: list[str] = []

    async def did_register_for_remote_notifications(self, token: str) -> None:
        self.story.step(_("didRegisterForRemoteNotificationsWithDeviceToken: {token}; the app sends it to the "
                          "provider").format(token=token), actor="app")
        status, _body = await post_json(f"{self.provider_url}/v1/devices", {
            "token": token, "bundle_id": BUNDLE_ID, "environment": "sandbox", "user_id": "pushchat-user"})
        if status in (200, 201):
            self.sent.append(token)

    def did_fail_to_register_for_remote_notifications(self, error: RegistrationError) -> None:
        self.errors.append(error)
        # iOS calls this only once it has refused: tell the refusal first, then the callback, then the app's answer.
        self.story.step(_("iOS refuses: {domain} code {code}").format(domain=error.domain, code=error.code),
                        actor="device")
        self.story.step(_("didFailToRegisterForRemoteNotificationsWithError: {error}").format(error=error),
                        actor="app")
        self.story.step(_("a correct app logs the error, sends nothing to the provider, keeps working without "
                          "push and registers again at its next launch"), actor="app")


async def _provider_devices(provider_url: str) -> list[str]:
    _status, body = await get_json(f"{provider_url}/v1/devices?bundle_id={BUNDLE_ID}")
    return [d["token"] for d in body["devices"]]


async def _device_sim_register(w: World, *args: str) -> tuple[int, Any]:
    """``device-sim register`` as a learner types it, against this simulator; its exit code and JSON line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_sim.cli", "register", "--endpoints", str(w.sim.endpoints_file),
        "--state-dir", str(w.work / "cli-iphone"), "--app", BUNDLE_ID, "--environment", "sandbox", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _err = await asyncio.wait_for(proc.communicate(), 60)
    lines = [line for line in out.decode().splitlines() if line.strip()]
    return int(proc.returncode or 0), json.loads(lines[-1]) if lines else None


async def run(story: Story) -> None:
    async with world(story) as w:
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        async with provider_service(w.sim, credentials, w.work) as provider_url:
            story.step(_("the provider service runs at {url}, with no device token yet").format(url=provider_url),
                       actor="provider")

            await story.stage(_("Failure 1: an app without the Push Notifications capability (no aps-environment "
                                "entitlement)"), "app")
            async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="PushChat iPhone") as phone:
                delegate = CorrectApp(story, provider_url)
                app = phone.install_app(BUNDLE_ID, environment=None, delegate=delegate)
                story.step(_("the app calls registerForRemoteNotificationTypes: with alert, sound and badge"))
                with contextlib.suppress(RegistrationError):  # the delegate was told, and tells the story
                    await app.register()
                story.check([(e.domain, e.code, e.description) for e in delegate.errors]
                            == [("NSCocoaErrorDomain", 3000, ENTITLEMENT_TEXT)],
                            _("didFailToRegisterForRemoteNotificationsWithError: got NSCocoaErrorDomain 3000, iOS's "
                              "words for the missing aps-environment entitlement"))
                story.check(app.token is None and delegate.sent == [] and await _provider_devices(provider_url) == [],
                            _("no device token, and nothing was sent to the provider"))

                await story.stage(_("The fix: turn on the Push Notifications capability and register again at the "
                                    "next launch"), "app")
                fixed = phone.install_app(BUNDLE_ID, environment="development", delegate=delegate)
                token = await fixed.register()
                await fixed.wait_idle(10)  # the delegate's POST to the provider
                story.check(delegate.sent == [token] and await _provider_devices(provider_url) == [token],
                            _("with the entitlement the app gets its token, and only now does the provider "
                              "receive it"))

            await story.stage(_("Failure 2: an old iOS Simulator (before Xcode 14 / iOS 16)"), "device")
            async with Phone.open(w.endpoints, state_dir=w.work / "simulator", name="iOS Simulator",
                                  legacy_simulator=True) as simulator:
                delegate = CorrectApp(story, provider_url)
                app = simulator.install_app(BUNDLE_ID, environment="development", delegate=delegate)
                with contextlib.suppress(RegistrationError):  # the delegate was told, as on a real simulator
                    await app.register()
                story.check([e.code for e in delegate.errors] == [3010] and delegate.sent == [],
                            _("the old iOS Simulator fails with NSCocoaErrorDomain 3010 and sends nothing"))

            await story.stage(_("Failure 3 on demand: device-sim register --fail-with 3000"), "device")
            code, printed = await _device_sim_register(w, "--fail-with", "3000")
            story.step(_("device-sim register --fail-with 3000 exited {code} and printed {json}").format(
                code=code, json=json.dumps(printed, ensure_ascii=False)))
            story.check(code == 3 and printed == {"error": {"domain": "NSCocoaErrorDomain", "code": 3000,
                                                            "description": ENTITLEMENT_TEXT}},
                        _("the command prints the NSError as JSON and exits 3"))
            story.check(await _provider_devices(provider_url) == [token],
                        _("the provider still knows only the token of the fixed app"))


SCENARIO = Scenario("registration-failure", N_("didFailToRegisterForRemoteNotificationsWithError: for an app "
                                               "without the push capability (3000), an old iOS Simulator (3010) "
                                               "and device-sim register --fail-with; what a correct app does"),
                    run)

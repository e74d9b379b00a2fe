"""The classic Chinese push tutorial, in its own order and numbering, against the simulated Apple.

First the certificates, with the tutorial's three files: Keychain Access makes ``Push.certSigningRequest`` and
exports the key as ``Push.p12``; the iOS Provisioning Portal refuses push for a wildcard App ID and, for an explicit
one, issues the certificate from its "Development Push SSL Certificate" row, saved as
``aps_developer_identity.cer``. Then the five steps: (1) the app calls ``registerForRemoteNotificationTypes:`` with
alert, sound and badge; (2) iOS gets the device token from APNs and the app receives it in
``didRegisterForRemoteNotificationsWithDeviceToken:``; (3) the app sends it to the provider (the real provider
service, over HTTP; it keeps tokens but cannot send yet). "Finally" the two files become the provider's ``ck.pem``
(the tutorial's openssl lines, ``apns-sim portal export``'s conversion), right before (4) the provider sends the
message to APNs, over HTTP/2 with the certificate made from the two files; (5) APNs sends it to the app. Steps 4 and
5 are the tutorial's three stages, numbered as they happen: (1) the provider packs the message with the device token
and sends it to APNs; (2) APNs finds the iPhone among those registered for push and sends it on; (3) the iPhone
hands it to the app, which shows the alert as set. Facts: docs/device-side.md §2.1 (the legacy API), §5 (the classic
certificate flow), docs/apns-protocol.md §6 (certificate connections); the words are docs/glossary.md's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from apns_sim import pki
from apns_sim.portal import formats
from apns_sim.portal.service import TUTORIAL_CER_NAME, PortalError, tutorial_name_note
from device_sim import Phone
from provider.apns import load_pem
from pushsim_i18n import N_, Domain
from scenarios.journey import told
from scenarios.kit import PASSWORD, TEAM_ID, World, get_json, post_json, provider_service, world
from scenarios.kit import shown as told_shown  # 'shown' names the app's presentation below
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.pushchat"  # the tutorial's app, PushChat
WILDCARD_ID = "com.example.*"
TYPES = ("alert", "sound", "badge")
HEX64 = re.compile(r"[0-9a-f]{64}")
# The tutorial's own openssl lines (its PEM names); `apns-sim portal export` does the same, naming them
# cert.pem, key.pem and ck.pem (docs/device-side.md §5 item 5).
TUTORIAL_OPENSSL = (
    "openssl x509 -in aps_developer_identity.cer -inform der -out PushChatCert.pem",
    "openssl pkcs12 -nocerts -out PushChatKey.pem -in Push.p12",
    "cat PushChatCert.pem PushChatKey.pem > ck.pem",
)


class TutorialDelegate:
    """The tutorial's AppDelegate, narrated under the Objective-C name of its callback; the tokens it was handed
    are kept for step 3. (Its other callback, ``didFail…``, is the registration-failure story's.)"""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.tokens: list[str] = []

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.tokens.append(token)
        self.story.step(_("the app's didRegisterForRemoteNotificationsWithDeviceToken: is called with the device "
                          "token {token}").format(token=token), actor="app")


def _public_der(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))


def _write(folder: Path, name: str, data: bytes, *, private: bool = False) -> Path:
    path = folder / name
    (pki.write_private if private else pki.write_public)(path, data)
    return path


async def _certificates(story: Story, w: World) -> tuple[Path, Path, Path]:
    """The tutorial's certificate part: the three files. Returns (csr, p12, cer) paths."""
    mac = w.work / "mac"
    mac.mkdir()
    await story.stage(_("Certificates: Push.certSigningRequest, Push.p12, aps_developer_identity.cer"), "portal")
    request = w.portal.make_csr("developer@example.com", "PushChat Developer", PASSWORD)
    csr = _write(mac, request.csr_filename, request.csr_pem)
    p12 = _write(mac, request.p12_filename, request.p12, private=True)
    story.step(request.summary)
    story.check(csr.name == "Push.certSigningRequest" and p12.name == "Push.p12" and csr.exists() and p12.exists(),
                _("Keychain Access saved Push.certSigningRequest and Push.p12, the tutorial's names"))

    wildcard = w.portal.create_app_id(WILDCARD_ID, TEAM_ID)
    story.step(wildcard.summary)
    try:
        w.portal.issue_certificate(WILDCARD_ID, request.csr_pem, "sandbox")
        refusal = ""
    except PortalError as exc:
        refusal = str(exc)
    story.step(_("the portal refuses a push certificate for {app_id}: {why}").format(app_id=WILDCARD_ID,
                                                                                     why=refusal))
    # The refusal above says the rule in full; the check only restates what happened.
    story.check(bool(refusal) and not wildcard.record.push_enabled,
                _("no push certificate for the wildcard App ID {app_id}").format(app_id=WILDCARD_ID))

    story.step(w.portal.create_app_id(BUNDLE_ID, TEAM_ID).summary)
    issued = w.portal.issue_certificate(BUNDLE_ID, request.csr_pem, "sandbox").saved(TUTORIAL_CER_NAME)
    cer = _write(mac, TUTORIAL_CER_NAME, issued.der)
    story.step(issued.summary)
    story.check(cer.exists() and cer.read_bytes() == issued.der and issued.record.environment == "sandbox",
                _("the Development Push SSL Certificate row's download is saved as aps_developer_identity.cer"))
    return csr, p12, cer


async def _provider_certificate(story: Story, w: World, p12: Path, cer: Path) -> Path:
    """The two files become the provider's certificate, ck.pem, as the tutorial's openssl lines do: "finally",
    after the app's first three steps and before the provider sends (step 4)."""
    await story.stage(_("Before step 4: the provider's certificate, ck.pem, made from the two files"), "provider")
    for line in TUTORIAL_OPENSSL:
        story.step(_("the tutorial runs: {command}").format(command=line))
    converted = formats.convert(formats.Inputs(cer=cer.read_bytes(), cer_name=cer.name, p12=p12.read_bytes(),
                                               p12_name=p12.name, password=PASSWORD), "pem")
    provider_dir = w.work / "provider"
    provider_dir.mkdir()
    paths = {f.role: _write(provider_dir, f.name, f.data, private=f.private) for f in converted.files}
    # The certificate step already said that aps_developer_identity.cer is today's aps_development.cer: once.
    note = tutorial_name_note(cer.name)
    story.step(converted.summary.removesuffix(note).rstrip() if note else converted.summary)
    ck = paths["combined"]
    story.check(ck.name == "ck.pem" and ck.stat().st_mode & 0o777 == 0o600,
                _("ck.pem holds the certificate and the private key, readable by its owner only"))
    return ck


async def run(story: Story) -> None:
    async with world(story) as w, \
            Phone.open(w.endpoints, state_dir=w.work / "iphone", name="PushChat iPhone") as phone:
        _csr, p12, cer = await _certificates(story, w)

        await story.stage(_("Step 1: the app registers for push (registerForRemoteNotificationTypes:)"), "app")
        delegate = TutorialDelegate(story)
        app = phone.install_app(BUNDLE_ID, environment="development", types=TYPES, delegate=delegate)
        story.step(_("PushChat ({bundle_id}) is installed with the aps-environment entitlement "
                     "(development)").format(bundle_id=BUNDLE_ID), actor="device")
        story.step(_("the app calls [[UIApplication sharedApplication] registerForRemoteNotificationTypes: "
                     "(UIRemoteNotificationTypeAlert | UIRemoteNotificationTypeSound | "
                     "UIRemoteNotificationTypeBadge)]"))
        story.check(app.types == TYPES, _("the app registers for alert, sound and badge"))

        await story.stage(_("Step 2: iOS gets the device token from APNs and the app receives it"), "device")
        story.step(_("iOS asks APNs for the app's device token over the iPhone's persistent connection"))
        token = await app.register()
        story.step(_("had it failed, iOS would call didFailToRegisterForRemoteNotificationsWithError: instead "
                     "(python -m scenarios registration-failure shows it)"), actor="app")
        story.check(HEX64.fullmatch(token) is not None and delegate.tokens == [token],
                    _("the app received a device token of 64 hex digits in "
                      "didRegisterForRemoteNotificationsWithDeviceToken:"))

        await story.stage(_("Step 3: the app sends the device token to the provider"), "app")
        # The provider keeps tokens before it can send: its certificate comes "finally", as in the tutorial.
        async with provider_service(w.sim, None, w.work) as provider_url:
            status, _body = await post_json(f"{provider_url}/v1/devices", {
                "token": token, "bundle_id": BUNDLE_ID, "environment": "sandbox", "user_id": "pushchat-user"})
            story.step(_("POST {url}/v1/devices: the provider answered HTTP {status}").format(url=provider_url,
                                                                                           status=status))
            _status, listed = await get_json(f"{provider_url}/v1/devices?bundle_id={BUNDLE_ID}")
            story.check(status in (200, 201) and [d["token"] for d in listed["devices"]] == [token],
                        _("the provider keeps the app's device token"))

        ck = await _provider_certificate(story, w, p12, cer)
        credentials = load_pem(ck)
        key_of_p12, _cert = pki.load_p12(p12.read_bytes(), PASSWORD)
        same_key = _public_der(credentials.private_key) == _public_der(key_of_p12)
        story.check(credentials.certificate == pki.load_certificate(cer.read_bytes()) and same_key,
                    _("the provider loaded ck.pem: the certificate of aps_developer_identity.cer with the key of "
                      "Push.p12"))

        async with provider_service(w.sim, credentials, w.work) as provider_url:
            story.step(_("the provider service starts again with ck.pem's certificate; it still keeps the device "
                         "token from step 3"), actor="provider")
            await story.stage(_("Step 4, Stage 1: the provider sends the message and the device token to APNs"),
                              "provider", number=1)
            if story.teaching:  # --step: hold stages 2 and 3 back until the presenter reaches them, as three-stages
                w.sim.hold_delivery()
                phone.hold_presentation()
            story.step(_("the provider packs the payload with the device token and sends it over HTTP/2, "
                         "presenting the certificate from ck.pem"), actor="provider")
            payload = {"aps": {"alert": _("Hello from PushChat!"), "sound": "default", "badge": 1}}
            status, body = await post_json(f"{provider_url}/v1/notifications", {
                "bundle_id": BUNDLE_ID, "user_id": "pushchat-user", "payload": payload})
            results = body.get("results", []) if isinstance(body, dict) else []
            apns_id = results[0]["apns_id"] if len(results) == 1 else None
            story.step(_("APNs answered HTTP {status} with apns-id {apns_id}").format(
                status=results[0]["status"] if results else status, apns_id=apns_id), apns_id=apns_id)
            story.check(status == 200 and apns_id is not None and results[0]["status"] == 200,
                        _("APNs accepted the notification from the provider that presented ck.pem's certificate"))

            await story.stage(_("Step 5, Stage 2: APNs finds the iPhone and sends the message on"), "apns",
                              number=2)
            w.sim.hold_delivery(False)
            stages = await w.admin.wait(str(apns_id), "delivered", timeout=10)
            story.step(_("APNs looks the iPhone up among those registered for push: {journey}").format(
                journey=told(stages[:stages.index("delivered") + 1] if "delivered" in stages else stages)))
            story.check("delivered" in stages, _("APNs delivered the notification to the iPhone"))

            await story.stage(_("Step 5, Stage 3: the iPhone hands it to the app, which shows it"),
                              "app", number=3)
            phone.release_presentation()
            received = await app.next_notification(timeout=10)
            shown = received.presentation
            story.step(told_shown(shown.alert, shown.sound, shown.badge))
            story.check(received.apns_id.lower() == str(apns_id).lower(),
                        _("the same apns-id from the provider to the app"))
            story.check(shown.alert is not None and shown.sound == "default" and shown.badge == 1,
                        _("alert, sound and badge presented, as the app registered for"))


SCENARIO = Scenario("tutorial-path", N_("the classic tutorial in its own order: the three files, the wildcard "
                                        "refusal, the five steps and the three stages, ck.pem for the provider"),
                    run)

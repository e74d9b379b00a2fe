"""The classic tutorial's certificate steps, end to end, finishing with a push over mutual TLS.

Keychain Access makes a key pair and a CSR and exports the key as a password-protected ``Push.p12``; the
portal refuses push for a wildcard App ID and, for an explicit one, turns the CSR into the "Development Push
SSL Certificate" (``aps_development.cer``, DER); openssl's job converts the pair to PEM; an iPhone app
registers for alert, sound and badge; the provider presents the PEM pair in the TLS handshake and the app
receives the notification. Facts: docs/device-side.md §5 (the classic flow), docs/apns-protocol.md §6
(certificate-based connections).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.portal import formats
from apns_sim.portal.service import PortalError
from device_sim import Phone
from provider.apns import APNsClient, Notification, load_pem_pair
from pushsim_i18n import N_, Domain
from scenarios.kit import PASSWORD, TEAM_ID, shown, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.pushchat"
WILDCARD_ID = "com.example.*"
SANDBOX_OID = x509.ObjectIdentifier(pki.ENV_SANDBOX_OID)


def _name(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    value = attrs[0].value if attrs else ""
    return value.decode() if isinstance(value, bytes) else value


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    return _name(cert.subject, oid)


async def run(story: Story) -> None:
    async with world(story) as w:
        keychain, downloads, provider_dir = w.work / "keychain", w.work / "downloads", w.work / "provider"
        for d in (keychain, downloads, provider_dir):
            d.mkdir()
        endpoints, portal = w.endpoints, w.portal
        story.step(_("the provider will check APNs's server certificate against the trust anchor {ca_file}").format(
            ca_file=endpoints["ca_file"]), actor="provider")

        await story.stage(_("Step 1: Keychain Access makes a key pair, a CSR and Push.p12"), "portal")
        request = portal.make_csr("developer@example.com", "PushChat Developer", PASSWORD)
        csr_path, p12_path = keychain / request.csr_filename, keychain / request.p12_filename
        pki.write_public(csr_path, request.csr_pem)
        pki.write_private(p12_path, request.p12)
        story.step(request.summary)
        story.check(x509.load_pem_x509_csr(request.csr_pem).is_signature_valid,
                    _("the CSR is signed by the key it carries (the portal checks that)"))
        story.check(p12_path.stat().st_mode & 0o777 == 0o600, _("Push.p12 is readable by its owner only"))

        await story.stage(_("Step 2: iOS Provisioning Portal: an explicit App ID, no wildcard"), "portal")
        story.step(portal.create_app_id(BUNDLE_ID, TEAM_ID).summary)
        wildcard = portal.create_app_id(WILDCARD_ID, TEAM_ID)
        story.step(wildcard.summary)
        story.check(wildcard.record.wildcard and not wildcard.record.push_enabled,
                    _("a wildcard App ID exists, but without the Push Notifications capability"))
        try:
            portal.issue_certificate(WILDCARD_ID, request.csr_pem, "sandbox")
            refusal = ""
        except PortalError as exc:
            refusal = str(exc)
        story.step(_("push certificate for {app_id} refused: {reason}").format(app_id=WILDCARD_ID, reason=refusal))
        # The refusal is the portal's own text, in the reader's language: check that it names the App ID, not
        # its English wording.
        story.check(bool(refusal) and WILDCARD_ID in refusal,
                    _("the portal refuses push for a wildcard App ID and says why (APNs routes by exact topic)"))

        await story.stage(_("Step 3: the Development Push SSL Certificate (aps_development.cer)"), "portal")
        issued = portal.issue_certificate(BUNDLE_ID, request.csr_pem, "sandbox")
        cer_path = downloads / issued.filename
        pki.write_public(cer_path, issued.der)
        story.step(issued.summary)
        story.step(_("the tutorial downloads this certificate as aps_developer_identity.cer; today's portal names "
                     "it aps_development.cer"))
        cert = x509.load_der_x509_certificate(cer_path.read_bytes())
        cn = _subject(cert, NameOID.COMMON_NAME)
        story.step(_("subject: UID={uid}, CN={cn}, OU={ou}; issuer: {issuer}").format(
            uid=_subject(cert, NameOID.USER_ID), cn=cn, ou=_subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME),
            issuer=_name(cert.issuer, NameOID.COMMON_NAME)))
        story.check(issued.filename == "aps_development.cer" and cer_path.read_bytes()[:1] == b"\x30",
                    _("the download is aps_development.cer, DER like Apple's"))
        story.check(cn == f"Apple Development IOS Push Services: {BUNDLE_ID}"
                    and _subject(cert, NameOID.USER_ID) == BUNDLE_ID
                    and _subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == TEAM_ID,
                    _("subject as Apple's: UID = bundle id, CN = Apple Development IOS Push Services, OU = team"))
        story.check(any(e.oid == SANDBOX_OID for e in cert.extensions)
                    and (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 365,
                    _("sandbox environment extension present; valid for one year"))

        await story.stage(_("Step 4: openssl's job: .cer + Push.p12 to PEM for the provider"), "provider")
        converted = formats.convert(formats.Inputs(cer=cer_path.read_bytes(), cer_name=cer_path.name,
                                                 p12=p12_path.read_bytes(), p12_name=p12_path.name,
                                                 password=PASSWORD), "pem")
        paths: dict[str, Path] = {}
        for item in converted.files:
            paths[item.role] = provider_dir / item.name
            (pki.write_private if item.private else pki.write_public)(paths[item.role], item.data)
        story.step(converted.summary)
        story.check(all(paths[r].stat().st_mode & 0o777 == 0o600 for r in ("key", "combined")),
                    _("key.pem and ck.pem are written 0600"))
        credentials = load_pem_pair(paths["cert"], paths["key"])
        story.check(credentials.bundle_id == BUNDLE_ID and credentials.certificate == cert,
                    _("the provider reads cert.pem + key.pem: the same certificate, with its matching key"))

        await story.stage(_("Step 5: the iPhone app registers for alert, sound and badge"), "app")
        async with Phone.open(endpoints, state_dir=w.work / "iphone", name="Tutorial iPhone") as phone:
            app = phone.install_app(BUNDLE_ID, environment="development", types=("alert", "sound", "badge"))
            token = await app.register()
            story.step(_("{bundle_id} got its device token {token}… and would send it to the provider").format(
                bundle_id=BUNDLE_ID, token=token[:16]))
            story.check(len(token) == 64, _("a 32-byte device token, as hex"))

            await story.stage(_("Step 6: the push, over mutual TLS with the converted PEM"), "provider")
            text = _("Your certificates work!")
            payload = {"aps": {"alert": text, "sound": "default", "badge": 1}}
            async with APNsClient(credentials, environment="sandbox", endpoint=endpoints["sandbox"],
                                  ca_file=endpoints["ca_file"]) as client:
                result = await client.send(Notification(token=token, topic=BUNDLE_ID, payload=payload))
            story.step(_("APNs answered HTTP {status}, apns-id {apns_id}").format(status=result.status,
                                                                                  apns_id=result.apns_id))
            story.check(result.status == 200 and result.apns_id is not None,
                        _("APNs accepted the push authenticated by the client certificate"))
            received = await app.next_notification(timeout=10)
            presented = received.presentation
            story.step(_("the app received {apns_id}").format(apns_id=received.apns_id), actor="app")
            story.step(shown(presented.alert, presented.sound, presented.badge), actor="app")
            story.check(received.apns_id.lower() == (result.apns_id or "").lower()
                        and received.payload["aps"]["alert"] == text,
                        _("the app received the very notification the provider sent"))
            story.check(presented.alert is not None and presented.sound == "default" and presented.badge == 1,
                        _("alert shown, sound played and badge set, as the app registered for"))


SCENARIO = Scenario("certificate-workflow", N_("the tutorial's certificate steps: Keychain CSR and Push.p12, "
                    "App IDs (wildcard refused), aps_development.cer, PEM conversion, a push over mutual TLS"), run)

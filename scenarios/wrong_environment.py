"""Wrong environment: sandbox and production are two APNs, with their own tokens and certificates.

Apple (docs/apns-protocol.md §1, §4.3, §6, §8): a device token belongs to one environment (the app's
``aps-environment`` entitlement: development builds get sandbox tokens); sent to the other environment it is
400 ``BadDeviceToken``. A push certificate is issued for one environment; presented to the other it is 403
``BadCertificateEnvironment`` (the simulator says so in a GOAWAY at connect, README "Where Apple is silent").
A token-auth key without an environment works on both, which isolates the token's environment.
"""

from __future__ import annotations

from apns_sim import pki
from device_sim import Phone
from provider.apns import APNsClient, Credentials, Notification, alert, load_p8
from pushsim_i18n import N_, Domain
from scenarios.kit import TEAM_ID, push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.envs"


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("Credentials: development and production certificates, a .p8 key"), "portal")
        development = push_certificate(w.portal, w.work, BUNDLE_ID, "sandbox")
        production = push_certificate(w.portal, w.work, BUNDLE_ID, "production", create_app_id=False)
        key = w.portal.create_auth_key(TEAM_ID)
        pki.write_private(w.work / key.filename, key.p8)
        jwt_key = load_p8(w.work / key.filename, key.key_id, TEAM_ID)
        story.step(_("aps_development.cer (sandbox), aps.cer (production), {key_file} (both environments)").format(
            key_file=key.filename))

        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Tester's iPhone") as phone:
            await story.stage(_("Two builds of the app: a development one and an App Store one"), "app")
            dev_token = await phone.install_app(BUNDLE_ID, environment="development").register()
            story.step(_("development build: sandbox token {token}…").format(token=dev_token[:16]))
            prod_bundle = BUNDLE_ID + ".store"
            w.portal.create_app_id(prod_bundle, TEAM_ID)
            prod_token = await phone.install_app(prod_bundle, environment="production").register()
            story.step(_("App Store build ({bundle_id}): production token {token}…").format(
                bundle_id=prod_bundle, token=prod_token[:16]))

            # (credential, token's environment, endpoint, answer): one table per stage, each fits 80 columns.
            rows: list[tuple[str, str, str, str]] = []

            async def push(label: str, credentials: Credentials, environment: str, token: str,
                           topic: str) -> tuple[int, str | None]:
                async with APNsClient(credentials, environment=environment, endpoint=w.endpoints[environment],
                                      ca_file=w.endpoints["ca_file"], max_attempts=1) as client:
                    result = await client.send(Notification(token=token, topic=topic, payload=alert(label)))
                answer = f"{result.status} {result.reason or ''}".strip()
                rows.append((label, "sandbox" if token == dev_token else "production", environment, answer))
                story.step(_("{credential} → {environment}: {answer}").format(
                    credential=label, environment=environment, answer=answer), actor="provider")
                return result.status, result.reason

            sandbox_p8, production_p8 = _("sandbox token, .p8"), _("production token, .p8")
            await story.stage(_("Device tokens: each belongs to one environment"), "provider")
            story.check(await push(sandbox_p8, jwt_key, "sandbox", dev_token, BUNDLE_ID) == (200, None),
                        _("the sandbox token works on the sandbox endpoint"))
            story.check(await push(sandbox_p8, jwt_key, "production", dev_token, BUNDLE_ID)
                        == (400, "BadDeviceToken"),
                        _("the sandbox token sent to production: 400 BadDeviceToken"))
            story.check(await push(production_p8, jwt_key, "sandbox", prod_token, prod_bundle)
                        == (400, "BadDeviceToken"),
                        _("the production token sent to sandbox: 400 BadDeviceToken"))
            story.check(await push(production_p8, jwt_key, "production", prod_token, prod_bundle)
                        == (200, None),
                        _("the production token works on the production endpoint"))
            story.table(_("Device tokens, sent with the .p8 key"), (_("token from"), _("endpoint"), _("answer")),
                        [row[1:] for row in rows])
            del rows[:]

            development_cert, production_cert = _("development certificate"), _("production certificate")
            await story.stage(_("Certificates: each is for one environment"), "provider")
            story.check(await push(development_cert, development, "sandbox", dev_token, BUNDLE_ID)
                        == (200, None), _("the development certificate works on sandbox"))
            story.check(await push(development_cert, development, "production", dev_token, BUNDLE_ID)
                        == (403, "BadCertificateEnvironment"),
                        _("the development certificate on production: 403 BadCertificateEnvironment"))
            story.check(await push(production_cert, production, "sandbox", dev_token, BUNDLE_ID)
                        == (403, "BadCertificateEnvironment"),
                        _("the production certificate on sandbox: 403 BadCertificateEnvironment"))
            story.table(_("Certificates, sent with the sandbox token"), (_("certificate"), _("endpoint"), _("answer")),
                        [(credential, endpoint, answer) for credential, _env, endpoint, answer in rows])


SCENARIO = Scenario("wrong-environment", N_("sandbox token to production (BadDeviceToken) and back; a certificate "
                    "for the other environment (BadCertificateEnvironment)"), run)

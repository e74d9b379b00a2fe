"""Token-change events end to end (docs/device-side.md §3, §6 rule 29): a restore from backup or an erase gives the
phone's apps new tokens, the old ones stop working at once, and an app learns its new token only when it next
registers.

A running simulator, the real provider client over TLS (HTTP/2, certificate auth) and the phone over its courier
TLS connection; nothing is mocked. The phone tells APNs by reconnecting without its base token and naming the one
it gave up (Connect item 0x31, a [sim] detail of apns_sim.courier).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apns_sim.state import SimConfig
from device_sim import Phone
from device_sim import cli as device_cli
from provider.apns import APNsClient, load_pem_pair
from provider.apns.notification import Notification as Push
from provider.apns.protocol import Result
from pushsim import RunningSimulator

BUNDLE = "com.example.tokens"
ALERT = {"aps": {"alert": "Hello"}}


_CERTIFICATES: dict[Path, Any] = {}  # one push certificate per simulator data dir (issuing one makes a key)


async def send(sim: RunningSimulator, token: str, *, topic: str = BUNDLE, push_type: str | None = None) -> Result:
    bundle = _CERTIFICATES.get(sim.data_dir)
    if bundle is None:
        bundle = _CERTIFICATES[sim.data_dir] = sim.issue_certificate(BUNDLE, "universal")  # its topics include .voip
    async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as client:
        return await client.send(Push(token=token, topic=topic, payload=ALERT, push_type=push_type))


async def test_restore_from_backup_retires_the_old_token_and_register_gets_a_new_one(sim: RunningSimulator,
                                                                                     tmp_path: Path) -> None:
    """§3 "Restore from backup → new token"; rule 29: the old token stops working, the app keeps its settings
    and permission, and learns the new token only when it registers again (its PushKit token too, rule 28)."""
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        app = phone.install_app(BUNDLE, user_response="allow")
        await app.request_authorization()
        t1 = await app.register()
        voip1 = await app.register_voip()
        assert (await send(sim, t1)).status == 200
        await app.next_notification()
        old_base = phone.base_token

        assert await phone.restore_from_backup()

        assert phone.apps.keys() == {BUNDLE} and phone.app(BUNDLE) is app  # apps and settings stay
        assert app.authorization.status == "authorized" and app.config.user_response == "allow"
        assert app.token is None and app.voip_token is None  # forgotten locally until the next register()
        assert phone.base_token is not None and phone.base_token != old_base  # a new push identity
        refused = await send(sim, t1)
        assert (refused.status, refused.reason, refused.timestamp) == (400, "BadDeviceToken", None)
        voip_refused = await send(sim, voip1, topic=BUNDLE + ".voip", push_type="voip")
        assert (voip_refused.status, voip_refused.reason) == (400, "BadDeviceToken")

        t2 = await app.register()
        assert t2 != t1 and app.token == t2
        delivered = await send(sim, t2)
        assert delivered.status == 200
        assert (await app.next_notification()).apns_id == delivered.apns_id
        assert await app.register_voip() != voip1
    # The restored phone is the same phone after a restart: the new tokens, not the old ones.
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        again = phone.app(BUNDLE)
        assert again.token == t2 and await again.register() == t2
        assert again.authorization.status == "authorized"
        assert (await send(sim, t1)).status == 400


async def test_replaced_token_reason_expired_token_answers_410_with_the_moment(tmp_path: Path) -> None:
    """§3 and apns-protocol: ``SimConfig(replaced_token_reason="ExpiredToken")`` answers 410 ExpiredToken with a
    millisecond timestamp of the restore (the knob for what Apple leaves unconfirmed)."""
    config = SimConfig(replaced_token_reason="ExpiredToken")
    async with RunningSimulator.start(tmp_path / "sim", config=config) as sim, Phone.open(sim.endpoints) as phone:
        t1 = await phone.install_app(BUNDLE).register()
        assert (await send(sim, t1)).status == 200
        before_ms = int(sim.clock.time() * 1000)
        assert await phone.restore_from_backup()
        refused = await send(sim, t1)
        assert (refused.status, refused.reason) == (410, "ExpiredToken")
        assert refused.timestamp is not None and before_ms <= refused.timestamp <= int(sim.clock.time() * 1000)


async def test_erase_removes_every_app_and_refuses_the_old_tokens(sim: RunningSimulator, tmp_path: Path) -> None:
    """§3 "OS reinstall / erase and reset → new token"; rule 29: Erase All Content and Settings removes every app
    and forgets the permission answers, and APNs refuses the old tokens. Reinstalling prompts again (rule 24)."""
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        app = phone.install_app(BUNDLE, user_response="deny")
        await app.request_authorization()
        t1 = await app.register()
        assert await phone.erase()
        assert phone.apps == {} and not app.installed
        assert (await send(sim, t1)).reason == "BadDeviceToken"
        again = phone.install_app(BUNDLE, user_response="allow")
        assert again.authorization.status == "not_determined"  # permission forgotten: the user is asked again
        assert await again.request_authorization()
        t2 = await again.register()
        assert t2 != t1 and (await send(sim, t2)).status == 200
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        assert phone.apps.keys() == {BUNDLE} and phone.app(BUNDLE).token == t2


async def test_restore_while_offline_tells_apns_on_the_next_connection(sim: RunningSimulator) -> None:
    """Rule 29 over a real network: APNs can only learn of the restore when the phone connects; until then the
    old token still answers 200, afterwards it is refused."""
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE)
        t1 = await app.register()
        await phone.go_offline()
        assert not await phone.restore_from_backup()  # not told yet
        assert (await send(sim, t1)).status == 200  # stored for the phone; APNs does not know yet
        await phone.go_online()
        assert (await send(sim, t1)).reason == "BadDeviceToken"
        t2 = await app.register()
        assert t2 != t1 and (await send(sim, t2)).status == 200


async def test_device_sim_restore_and_erase_cli(sim: RunningSimulator, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """docs/architecture.md contract 3 style: ``device-sim restore`` / ``erase`` print one JSON line; the old token
    stops."""
    state = tmp_path / "phone"
    async with Phone.open(sim.endpoints, state_dir=state) as phone:
        t1 = await phone.install_app(BUNDLE).register()
    args = ["--endpoints", str(sim.endpoints_file), "--state-dir", str(state)]
    assert await device_cli.COMMANDS["restore"](device_cli._parser().parse_args(["restore", *args])) == 0
    event: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert event == {"event": "restored", "apps": [BUNDLE], "apns_notified": True}
    assert (await send(sim, t1)).reason == "BadDeviceToken"
    async with Phone.open(sim.endpoints, state_dir=state) as phone:
        t2 = await phone.app(BUNDLE).register()
    assert await device_cli.COMMANDS["erase"](device_cli._parser().parse_args(["erase", *args])) == 0
    assert json.loads(capsys.readouterr().out) == {"event": "erased", "apps": [BUNDLE], "apns_notified": True}
    assert (await send(sim, t2)).reason == "BadDeviceToken"

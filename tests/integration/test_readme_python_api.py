"""The README's Python API example, run as written (so the README cannot rot)."""

from __future__ import annotations

from pathlib import Path

from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from device_sim import Phone
from provider.apns import APNsClient, Notification
from provider.apns.credentials import load_cer_and_p12


async def test_readme_example(tmp_path: Path) -> None:
    async with Simulator() as sim:
        portal = Portal(sim.state.registry, sim.state.authority, sim.state.clock.now)
        keychain = portal.make_csr("dev@example.com", "Push Demo", "pw")
        portal.create_app_id("com.example.app", "ABCDE12345")
        issued = portal.issue_certificate("com.example.app", keychain.csr_pem, "sandbox")
        (tmp_path / "aps_development.cer").write_bytes(issued.der)
        (tmp_path / "Push.p12").write_bytes(keychain.p12)
        credentials = load_cer_and_p12(tmp_path / "aps_development.cer", tmp_path / "Push.p12", "pw")

        async with Phone.open(sim.endpoints, name="My iPhone") as phone:
            app = phone.install_app("com.example.app", types=("alert", "sound", "badge"))
            token = await app.register()

            async with APNsClient(credentials, environment="sandbox", endpoint=sim.endpoints["sandbox"],
                                  ca_file=sim.endpoints["ca_file"]) as client:
                result = await client.send(Notification(token=token, topic="com.example.app",
                                                        payload={"aps": {"alert": "Hello", "badge": 1}}))
            assert result.accepted and result.apns_id
            received = await app.next_notification(timeout=10)
            assert received.apns_id.lower() == result.apns_id.lower()
            assert (received.presentation.alert, received.presentation.sound, received.presentation.badge) == (
                "Hello", None, 1)

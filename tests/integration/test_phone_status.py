"""What the dashboard shows of each phone's apps, and the locked phone, end to end (docs/device-side.md §2.3, §2.5,
§2.6, §6 rule 16).

A running simulator, ``device_sim`` iPhones over the courier's TLS, pushes from the real provider client over
HTTP/2 and TLS, and ``GET /_sim/phones`` read over HTTP from the admin server. Permission, badge and app state
come from the phone's [sim] AppStatus report (courier 0x32), which a real APNs never receives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from provider.apns import APNsClient, Notification, alert, load_pem_pair
from pushsim import IPhoneFactory, RunningSimulator

ALLOWED = "com.example.allowed"
DENIED = "com.example.denied"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[APNsClient]:
    bundle = sim.issue_certificate(ALLOWED)
    async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as apns:
        yield apns


async def app_row(http: aiohttp.ClientSession, sim: RunningSimulator, device_id: str, bundle_id: str,
                  until: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
    """The app's row of ``GET /_sim/phones`` once ``until`` holds: the phone's report travels on its own
    courier frame, so it reaches the gateway a moment after the phone changed."""
    deadline = asyncio.get_running_loop().time() + timeout
    row: dict[str, Any] = {}
    while True:
        async with http.get(f"{sim.admin_url}/_sim/phones") as response:
            assert response.status == 200
            phones = (await response.json())["phones"]
        rows = [a for p in phones if p["device_id"] == device_id for a in p["apps"] if a["bundle_id"] == bundle_id]
        row = rows[0] if rows else {}
        if row and until(row):
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{bundle_id} never matched; its row is {row}")
        await asyncio.sleep(0.02)


async def test_phones_show_the_reported_permission_badge_and_app_state(
        sim: RunningSimulator, iphones: IPhoneFactory, http: aiohttp.ClientSession, client: APNsClient) -> None:
    """§2.6: the user's "Don't Allow" shows as denied; §2.5: the badge a push set; §2.3: the app in front."""
    phone = await iphones(name="Status iPhone")
    denied = phone.install_app(DENIED, user_response="deny")
    assert await denied.request_authorization() is False
    await denied.register(timeout=5)
    allowed = phone.install_app(ALLOWED)
    assert await allowed.request_authorization(("alert", "badge"))
    token = await allowed.register(timeout=5)

    row = await app_row(http, sim, phone.device_id, DENIED, lambda r: r["reported"])
    assert (row["permission"], row["permission_options"], row["badge"], row["app_state"]) == (
        "denied", [], 0, "background")
    row = await app_row(http, sim, phone.device_id, ALLOWED, lambda r: r["reported"])
    assert (row["permission"], row["permission_options"]) == ("authorized", ["alert", "badge"])

    result = await client.send(Notification(token=token, topic=ALLOWED, payload=alert("Hi", badge=3)))
    assert result.status == 200
    await sim.wait_for_notification(apns_id=result.apns_id, stage="presented", timeout=10)
    assert allowed.badge == 3
    row = await app_row(http, sim, phone.device_id, ALLOWED, lambda r: r["badge"] == 3)
    assert (row["badge_note"], row["reported"]) == ("reported by the phone", True)

    allowed.launch()
    row = await app_row(http, sim, phone.device_id, ALLOWED, lambda r: r["app_state"] == "foreground")
    assert row["badge"] == 3 and row["permission"] == "authorized"

    # A reconnect (APNs may have forgotten) sends every status again: the gateway keeps the latest.
    sim.state.app_reports.forget_device(phone.device_id)
    await phone.go_offline()
    await phone.go_online(timeout=5)
    row = await app_row(http, sim, phone.device_id, DENIED, lambda r: r["reported"])
    assert row["permission"] == "denied"


async def test_a_push_to_a_locked_phone_is_presented_on_the_lock_screen(
        sim: RunningSimulator, iphones: IPhoneFactory, http: aiohttp.ClientSession, client: APNsClient) -> None:
    """docs/device-side.md §6 rule 16, §2.3: locking sends the app in front to the background; the alert shows on
    the Lock Screen, with sound and badge as usual, and stays in Notification Center; unlocking leaves the
    app in the background."""
    phone = await iphones(name="Locked iPhone")
    app = phone.install_app(ALLOWED)
    await app.request_authorization()
    token = await app.register(timeout=5)
    app.launch()
    phone.lock()
    assert phone.locked and app.state == "background"

    result = await client.send(Notification(token=token, topic=ALLOWED,
                                            payload=alert("At the door", sound="default", badge=1)))
    assert result.status == 200
    journey = await sim.wait_for_notification(apns_id=result.apns_id, stage=("presented", "not_presented"),
                                              timeout=10)
    presented = journey["journey"][-1]
    assert (presented["stage"], presented["where"]) == ("presented", "lock_screen")
    assert (presented["sound"], presented["badge"]) == ("default", 1)
    assert [n.apns_id for n in app.delivered_notifications] == [result.apns_id]

    phone.unlock()
    assert not phone.locked and app.state == "background"
    row = await app_row(http, sim, phone.device_id, ALLOWED, lambda r: r["badge"] == 1)
    assert row["app_state"] == "background"

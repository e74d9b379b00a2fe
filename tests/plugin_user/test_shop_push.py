"""Tests of shop_notifications.py, written as any project would write them with the pushsim plugin installed.

They use only the plugin's fixtures (``apns_simulator``, ``iphone_factory``, ``apns_simulator_config``) and
public APIs: no helpers from pushsim's own test suite.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from aioapns import APNs, NotificationRequest
from aioapns.connection import APNsDevelopmentClientProtocol
from shop_notifications import ShopNotifier

from provider.apns import APNsClient, load_p8, load_pem_pair

BUNDLE_ID = "com.example.shop"


class Delegate:
    """The iOS app's UIApplicationDelegate, reduced to what the test looks at."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.payloads: list[Any] = []

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.tokens.append(token)

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.payloads.append(payload)


@pytest.mark.asyncio
async def test_order_shipped_reaches_the_app(apns_simulator, iphone_factory) -> None:
    certificate = apns_simulator.issue_certificate(BUNDLE_ID)  # App ID, CSR, .cer, key, .p12
    phone = await iphone_factory(name="Alice's iPhone")
    delegate = Delegate()
    app = phone.install_app(BUNDLE_ID, delegate=delegate)
    token = await app.register()
    assert delegate.tokens == [token]

    credentials = load_pem_pair(certificate.cert_pem, certificate.key_pem)
    async with APNsClient(credentials, endpoint=apns_simulator.sandbox_url, ca_file=apns_simulator.ca_file) as client:
        apns_id = await ShopNotifier(client, BUNDLE_ID).order_shipped(token, "A-1001")

    received = await app.next_notification(timeout=10)
    assert received.apns_id == apns_id
    assert delegate.payloads == []  # the app is suspended in the background: iOS shows the alert, runs no app code
    await received.tap()  # the user taps it: the app comes forward and gets the payload, once
    assert delegate.payloads == [received.payload] and app.state == "foreground"
    assert received.payload["order_id"] == "A-1001"
    assert received.presentation.alert == {"title": "Shipped", "body": "Order A-1001 is on its way"}
    assert (received.presentation.sound, received.presentation.badge, app.badge) == ("default", 1, 1)
    journey = await apns_simulator.wait_for_notification(apns_id=apns_id, stage="presented")
    assert [s["stage"] for s in journey["journey"]] == [
        "accepted", "delivered", "acknowledged", "handed_to_app", "presented"]


@pytest.mark.asyncio
async def test_token_auth_keeps_working_past_an_hour(apns_simulator, iphone_factory) -> None:
    apns_simulator.create_app_id(BUNDLE_ID)
    key = apns_simulator.create_auth_key()  # AuthKey_<KEYID>.p8 for team ABCDE12345
    phone = await iphone_factory()
    app = phone.install_app(BUNDLE_ID)
    token = await app.register()
    apns_simulator.clock.freeze()
    async with APNsClient(load_p8(key.p8_path, key.key_id, key.team_id), endpoint=apns_simulator.sandbox_url,
                          ca_file=apns_simulator.ca_file, clock=apns_simulator.clock.time) as client:
        notifier = ShopNotifier(client, BUNDLE_ID)
        first = await notifier.order_shipped(token, "A-1")
        apns_simulator.clock.advance(3700)  # past the one-hour life of a provider token, without sleeping
        second = await notifier.order_shipped(token, "A-2")
    assert first and second
    assert [n.payload["order_id"] for n in (await app.next_notification(), await app.next_notification())] == [
        "A-1", "A-2"]


@pytest.mark.asyncio
async def test_a_third_party_client_aioapns(apns_simulator, iphone_factory) -> None:
    """aioapns, unmodified: only host, port and trust differ from Apple's."""
    certificate = apns_simulator.issue_certificate(BUNDLE_ID)
    phone = await iphone_factory()
    app = phone.install_app(BUNDLE_ID)
    token = await app.register()

    class Simulated(APNsDevelopmentClientProtocol):
        APNS_SERVER = "127.0.0.1"
        APNS_PORT = int(apns_simulator.sandbox_url.rsplit(":", 1)[1])

    client = APNs(client_cert=str(certificate.pem), topic=BUNDLE_ID, use_sandbox=True,
                  ssl_context=ssl.create_default_context(cafile=str(apns_simulator.ca_file)))
    client.pool.protocol_class = Simulated
    try:
        request = NotificationRequest(device_token=token, message={"aps": {"alert": "From aioapns"}})
        response = await asyncio.wait_for(client.send_notification(request), 20)
    finally:
        client.pool.close()
    assert response.is_successful, response.description
    received = await app.next_notification()
    assert received.apns_id == request.notification_id.lower() and received.presentation.alert == "From aioapns"


@pytest.mark.asyncio
async def test_every_test_gets_a_fresh_simulator(apns_simulator, iphone_factory) -> None:
    assert apns_simulator.notifications() == []
    assert apns_simulator.state.registry.list_app_ids() == []
    assert not apns_simulator.clock.frozen  # an earlier test froze and advanced its own clock
    first, second = await iphone_factory(name="One"), await iphone_factory(name="Two")
    assert first.device_id != second.device_id
    assert iphone_factory.phones == [first, second]

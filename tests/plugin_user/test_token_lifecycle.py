"""Token lifecycle with a knob turned: this module's simulator delays the 410 by a day, as Apple may.

Overriding the ``apns_simulator_config`` fixture changes the simulator for the tests of this module only.
"""

from __future__ import annotations

import pytest
from shop_notifications import ShopNotifier

from provider.apns import APNsClient, load_pem_pair
from pushsim import DeliveryConfig, SimConfig

BUNDLE_ID = "com.example.shop"


@pytest.fixture
def apns_simulator_config() -> SimConfig:
    """This module's simulator answers 410 a day after an uninstall, as Apple may (a documented knob)."""
    return SimConfig(delivery=DeliveryConfig(unregister_delay=24 * 3600))


@pytest.mark.asyncio
async def test_uninstalled_app_token_is_dropped_once_apns_says_410(apns_simulator, iphone_factory) -> None:
    certificate = apns_simulator.issue_certificate(BUNDLE_ID)
    phone = await iphone_factory()
    token = await phone.install_app(BUNDLE_ID).register()
    assert await phone.uninstall(BUNDLE_ID)
    credentials = load_pem_pair(certificate.cert_pem, certificate.key_pem)
    async with APNsClient(credentials, endpoint=apns_simulator.sandbox_url, ca_file=apns_simulator.ca_file) as client:
        notifier = ShopNotifier(client, BUNDLE_ID)
        assert await notifier.order_shipped(token, "B-1")  # within the delay APNs still answers 200
        apns_simulator.clock.advance(24 * 3600 + 1)
        assert await notifier.order_shipped(token, "B-2") is None
    assert notifier.dead_tokens == {token}
    gone = apns_simulator.notifications(token=token)[-1]  # newest last
    assert (gone["status"], gone["reason"]) == (410, "Unregistered")

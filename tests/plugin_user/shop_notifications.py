"""The code under test: how a (made-up) shop backend sends its push notifications.

Nothing here knows about the simulator. In production ``client`` points at Apple; in the tests next to this
file it points at the pushsim simulator, and only the endpoint and the CA file differ.
"""

from __future__ import annotations

from provider.apns import APNsClient, Notification, alert

GONE = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}


class ShopNotifier:
    def __init__(self, client: APNsClient, bundle_id: str) -> None:
        self.client = client
        self.bundle_id = bundle_id
        self.dead_tokens: set[str] = set()

    async def order_shipped(self, token: str, order_id: str) -> str | None:
        """Tell the customer; returns the apns-id, or None when the token is dead (and forgets it)."""
        if token in self.dead_tokens:
            return None
        payload = alert(f"Order {order_id} is on its way", title="Shipped", badge=1, sound="default",
                        custom={"order_id": order_id})
        result = await self.client.send(Notification(token=token, topic=self.bundle_id, payload=payload,
                                                     collapse_id=f"order-{order_id}"))
        if result.reason in GONE:
            self.dead_tokens.add(token)
            return None
        if not result.accepted:
            raise RuntimeError(f"APNs refused order {order_id}: {result.status} {result.reason}")
        return result.apns_id

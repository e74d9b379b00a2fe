"""Stage 2's memory: store-and-forward (one stored push per app, expiry on the virtual clock) and priority
batching. Core: the timers are injected through a ``Scheduler``.

The face keeps ``from apns_sim.delivery import DeliveryConfig`` (and the rest) working."""

from __future__ import annotations

from apns_sim.delivery.store_and_forward import (
    BATCHED,
    DEFAULT_STORAGE_LIMIT,
    RESTORED,
    Delivery,
    DeliveryConfig,
    PushMessage,
    Scheduler,
    Sender,
    loop_scheduler,
)

__all__ = ["BATCHED", "DEFAULT_STORAGE_LIMIT", "RESTORED", "Delivery", "DeliveryConfig", "PushMessage", "Scheduler",
           "Sender", "loop_scheduler"]

"""The provider's memory (docs/architecture.md contract 4): the old import path of :mod:`provider.stores`.

Token hygiene follows Apple (docs/apns-protocol.md §4.3, §4.4, §8); the outbox, its leases and the
idempotency keys are described in docs/provider-service.md §2 and §3.
"""

from provider import stores
from provider.stores import *  # noqa: F403 - the old path exports exactly what provider.stores exports

__all__ = stores.__all__

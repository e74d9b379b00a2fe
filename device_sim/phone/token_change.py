"""Token-change events the user causes on the simulated iPhone: restore from backup and erase
(docs/device-side.md §3, §6 rule 29). Deleting and reinstalling one app is the third, and lives with
``Phone.uninstall``.

Apple: restoring a backup (to the same or another iPhone) and erasing the phone give its apps new tokens; the
old ones stop working; an app learns its new token only when it next registers. What happens on the phone:

- restore: apps, their settings and the user's permission answers stay (they are in the backup); each app's
  token and PushKit token are forgotten (they belonged to the old push identity), Notification Center starts
  empty and every app is not running (the phone restarted);
- erase (Erase All Content and Settings): every app is removed and every permission answer forgotten, so a
  reinstalled app prompts again.

Both make the phone give up its base token, its push identity (§1.7). It then reconnects with a Connect that
has no base token and names the one it gave up ([sim] Connect item 0x31, see ``apns_sim.courier``); APNs
replaces the device's tokens and answers with a new base token. The name is kept in the state file until APNs
has answered, so a phone that was offline, or stopped first, tells APNs on its next connection, and until
then the old tokens still work, as they would on Apple's service.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from device_sim.identity.store import DeviceState, DeviceStore

if TYPE_CHECKING:
    from device_sim.app.app import App
    from device_sim.connection.client import CourierClient

# [sim] A phone with no app in use still connects to tell APNs; a token-change event is device-wide, so either
# environment's gateway connection carries it.
TELL_ENVIRONMENT = "sandbox"


class TokenChangeEvents:
    """The user's restore and erase, as part of :class:`device_sim.phone.Phone`."""

    _apps: dict[str, App]
    _clients: dict[str, CourierClient]
    _store: DeviceStore
    _online: bool

    def _client(self, environment: str) -> CourierClient:
        raise NotImplementedError

    def _emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def _device(self) -> DeviceState:
        assert self._store.state is not None
        return self._store.state

    async def restore_from_backup(self, timeout: float = 10.0) -> bool:
        """Restore the phone from its backup: apps and permission answers stay, every token is new.

        Returns True once APNs has retired the old tokens; False if the phone could not reach APNs within
        ``timeout`` seconds (it tells APNs on its next connection). Each app gets its new token at its next
        ``register()`` / ``register_voip()``.
        """
        for app in self._apps.values():
            app._restored()
        self._emit({"event": "restored", "apps": sorted(self._apps)})
        return await self._give_up_base_token(timeout)

    async def erase(self, timeout: float = 10.0) -> bool:
        """Erase All Content and Settings: every app and permission answer is gone, APNs retires the tokens.

        Returns as :meth:`restore_from_backup` does.
        """
        removed = sorted(self._apps)
        for app in self._apps.values():
            app.installed = False
        self._apps.clear()
        self._device.apps.clear()
        self._device.settings.pop("apps", None)  # permission answers and build knobs (Phone._memory)
        self._emit({"event": "erased", "apps": removed})
        return await self._give_up_base_token(timeout)

    async def _give_up_base_token(self, timeout: float) -> bool:
        # Stop first: a Connect already on its way carries the old base token and would adopt it again.
        for client in self._clients.values():
            await client.stop()
        device = self._device
        if device.base_token is not None:  # else an earlier restore is still waiting to be told: keep its name
            device.retired_base_token, device.base_token = device.base_token, None
        self._store.save()
        if device.retired_base_token is None:
            return True  # the phone never connected: APNs has no token of it to retire
        if not self._online:
            return False
        return await self._tell_token_change(timeout)

    async def _tell_token_change(self, timeout: float | None) -> bool:
        """(Re)connect every environment in use, or one if none is; True once APNs has answered the Connect."""
        clients = list(self._clients.values()) or [self._client(TELL_ENVIRONMENT)]
        for client in clients:
            client.start()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await clients[0].wait_connected(timeout)
        return self._device.retired_base_token is None

    def _resume_token_change(self) -> None:
        """At start-up: a restore or erase APNs has not heard of yet needs a connection even with no app in use."""
        if self._device.retired_base_token is not None and not self._clients:
            self._client(TELL_ENVIRONMENT)

    def _retired_base_token(self) -> bytes | None:
        token = self._device.retired_base_token
        return None if token is None else bytes.fromhex(token)


__all__ = ["TokenChangeEvents"]

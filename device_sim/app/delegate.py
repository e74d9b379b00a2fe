"""Running an app's own code: its delegate methods and handlers (docs/device-side.md §2.1, §2.2).

The app's code is the test's Python: a delegate may lack a method, may be sync or async, and may raise.
iOS does not go down when an app's callback throws, and neither may the phone, so every call is guarded:
an exception is logged and the push's journey goes on. Async work (an async delegate method, a service
extension, a fetch or PushKit handler under its time limit) runs as tasks tracked here, which is what
``App.wait_idle()`` waits for.

Apart from ``receiving`` because it is the other half of an arriving push: ``receiving`` decides *what* the
system does and *which* app code runs; this runs it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("device_sim.app")  # the app's logger: an app bug is logged under the app


class DelegateRunner:
    """Calls one app's code (``name`` is its bundle id, for the log) and tracks what is still running."""

    __slots__ = ("_name", "_tasks")

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def guard(self, method: Callable[..., Any], *args: Any) -> Any:
        """Call a delegate method; its exception is logged (an app bug must not take the phone down)."""
        try:
            return method(*args)
        except Exception:
            log.exception("%s: delegate %s raised", self._name, getattr(method, "__name__", method))
            return None

    def call(self, target: Any, method: str, *args: Any) -> None:
        """``target.method(*args)`` if it has the method; an async one runs on as a task."""
        callback = getattr(target, method, None)
        if callback is None:
            return
        result = self.guard(callback, *args)
        if inspect.isawaitable(result):
            self.spawn(result)

    async def call_now(self, target: Any, method: str, *args: Any) -> None:
        """``target.method(*args)`` if it has the method, awaited when async (the caller waits for the app)."""
        callback = getattr(target, method, None)
        if callback is None:
            return
        result = self.guard(callback, *args)
        if inspect.isawaitable(result):
            try:
                await result
            except Exception:
                log.exception("%s: delegate %s raised", self._name, method)

    def spawn(self, awaitable: Any) -> None:
        """Run app work in the background, tracked until it ends."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float | None) -> None:
        """Wait for every tracked task, including any a finishing task started."""
        while self._tasks:
            await asyncio.wait_for(asyncio.gather(*list(self._tasks), return_exceptions=True), timeout)


__all__ = ["DelegateRunner"]

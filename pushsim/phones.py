"""A factory of simulated iPhones that records what it makes and closes it in reverse order (STYLE habit 9).

    phone = await iphone_factory(name="Alice's iPhone")
    app = phone.install_app("com.example.app", delegate=my_delegate)
    token = await app.register()

Each phone is a :class:`device_sim.Phone`: activated against the simulator, with one courier connection per
environment its apps use, keeping its identity in its own folder under the factory's directory.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from device_sim import Phone

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class IPhoneFactory:
    """``await factory(name=...)`` opens a new phone; ``await factory.close()`` closes them all, last first."""

    def __init__(self, endpoints: Mapping[str, Any] | str | Path, workdir: Path | str | None = None, *,
                 keepalive_interval: float = 60.0) -> None:
        self._endpoints = endpoints
        self._temp = tempfile.mkdtemp(prefix="pushsim-iphones-") if workdir is None else None
        self.workdir = Path(self._temp or workdir)  # type: ignore[arg-type]
        self.keepalive_interval = keepalive_interval
        self._stack = contextlib.AsyncExitStack()
        self.phones: list[Phone] = []

    async def __call__(self, name: str | None = None, *, state_dir: Path | str | None = None,
                       keepalive_interval: float | None = None) -> Phone:
        """A new simulated iPhone, activated and online (``state_dir`` reuses a phone kept on disk)."""
        number = len(self.phones) + 1
        name = name or f"iPhone {number}"
        if state_dir is None:
            state_dir = self.workdir / _UNSAFE.sub("_", f"{number:02d}-{name}")[:80]
        phone = await self._stack.enter_async_context(Phone.open(
            self._endpoints, state_dir=state_dir, name=name,
            keepalive_interval=self.keepalive_interval if keepalive_interval is None else keepalive_interval))
        self.phones.append(phone)
        return phone

    async def close(self) -> None:
        """Close every phone in the reverse order of creation (each goes offline cleanly)."""
        try:
            await self._stack.aclose()
        finally:
            self.phones.clear()
            if self._temp is not None:
                shutil.rmtree(self._temp, ignore_errors=True)
                self._temp = None

    async def __aenter__(self) -> IPhoneFactory:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

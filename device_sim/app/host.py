"""What an app on the simulated iPhone gets from its phone: the phone's callbacks (:class:`AppHost`) and the
phone-wide rules every app obeys (:class:`PhoneRules`, docs/device-side.md §7: open questions become knobs).

Why a Protocol: ``app/`` sits under ``phone/`` and may not import it, and the receiving code (``receiving``,
``voip_receiving``) may not import ``app.App`` either (that was an import circle). So the phone is described
here by what the app's code calls on it, and the app type its callbacks take is a parameter: ``App``
declares ``AppHost[App]``, which is what makes mypy check the phone (and the unit tests' fake host) against
it, while the receiving code only needs ``AppHost[Any]`` and passes ``self``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from device_sim.rules import background
from device_sim.rules.presentation import Switches
from device_sim.rules.voip import DEFAULT_POLICY as DEFAULT_VOIP_POLICY
from device_sim.rules.voip import VoipPolicy

AppT = TypeVar("AppT", contravariant=True)


class AppHost(Protocol[AppT]):
    """The phone, as an app sees it: a token from APNs, "save me and refresh the filter", the dashboard's
    status, the push's journey, and events for listeners. ``app`` is always the calling app itself."""

    async def _request_token(self, app: AppT, *, voip: bool = False) -> bytes | None: ...

    def _app_changed(self, app: AppT, *, filter_changed: bool) -> None: ...

    def _status_changed(self, app: AppT) -> None: ...

    def _report(self, app: AppT, apns_id: str, stage: str, detail: dict[str, Any]) -> None: ...

    def _emit(self, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class PhoneRules:
    """Phone-wide knobs the apps obey (docs/device-side.md §7: open questions become knobs)."""

    clock: Callable[[], float] = time.time
    legacy_simulator: bool = False  # an old iOS Simulator: registration fails with 3010 (rule 10)
    background_budget: background.BackgroundBudget = field(default_factory=background.BackgroundBudget)
    under_xcode: bool = False  # running under Xcode: no background throttling (§2.4)
    switches: Switches = field(default_factory=Switches)  # Focus and mute, which the user flips (rule 26)
    voip: VoipPolicy = DEFAULT_VOIP_POLICY  # PushKit: failures allowed, time to report a call (rule 28)


__all__ = ["AppHost", "PhoneRules"]

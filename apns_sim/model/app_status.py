"""What the simulator's own phones say about their apps ([sim] courier AppStatus, 0x32): permission, badge, state.

A real APNs never learns these (docs/device-side.md §2.6: the user turning alerts off is invisible to the provider
and to APNs), so this is a simulator-only window for the dashboard (``GET /_sim/phones``), fed by the gateway
and read by :mod:`apns_sim.admin.phone_view`; no Apple behaviour depends on it. Only the latest status per (device,
bundle id, environment) is kept, in memory (a restart forgets it until the phones reconnect and report
again), bounded so that a fleet of phones cannot grow it without limit. Pure code: time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from apns_sim.courier import AppStatus

# Ten thousand phones with ten apps each; past that the least recently reported are forgotten (the dashboard
# then falls back to what the journey log says, as for a phone that never reported).
DEFAULT_LIMIT = 100_000


@dataclass(frozen=True, kw_only=True)
class ReportedApp:
    """One app's status as its phone last reported it, and when (simulator clock, UNIX seconds)."""

    permission: str
    options: tuple[str, ...]
    badge: int
    state: str
    at: float

    def as_json(self) -> dict[str, Any]:
        return {"permission": self.permission, "options": list(self.options), "badge": self.badge,
                "state": self.state, "at": self.at}


class AppReports:
    """The latest AppStatus per (device id, bundle id, environment)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError("the app report limit must be at least 1")
        self.limit = limit
        self._latest: OrderedDict[tuple[str, str, str], ReportedApp] = OrderedDict()

    def __len__(self) -> int:
        return len(self._latest)

    def record(self, device_id: str, status: AppStatus, at: float) -> None:
        key = (device_id, status.bundle_id, status.environment)
        self._latest.pop(key, None)  # re-inserted last: eviction forgets the phone that reported longest ago
        self._latest[key] = ReportedApp(permission=status.permission, options=status.options, badge=status.badge,
                                        state=status.state, at=at)
        while len(self._latest) > self.limit:
            self._latest.popitem(last=False)

    def get(self, device_id: str, bundle_id: str, environment: str) -> ReportedApp | None:
        return self._latest.get((device_id, bundle_id, environment))

    def forget(self, device_id: str, bundle_id: str, environment: str) -> None:
        """The app was deleted (its topic left the filter): what it reported belongs to the deleted copy."""
        self._latest.pop((device_id, bundle_id, environment), None)

    def forget_device(self, device_id: str) -> None:
        """The phone was restored or erased (its tokens were replaced): it reports afresh when it reconnects."""
        for key in [k for k in self._latest if k[0] == device_id]:
            del self._latest[key]


__all__ = ["DEFAULT_LIMIT", "AppReports", "ReportedApp"]

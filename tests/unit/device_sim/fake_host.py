"""A fake phone for unit tests of an app (device_sim.app.host.AppHost): tokens without a network, and a record of
what the app reported and emitted. Shared by the app, app-behaviour and PushKit unit tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from device_sim.app.app import App


class FakeHost:
    def __init__(self) -> None:
        self.reports: list[tuple[str, str, dict[str, Any]]] = []
        self.events: list[dict[str, Any]] = []
        self.token = bytes(range(32))
        self.voip_token = bytes([0xEE]) * 32
        self.filter_changes = 0

    async def _request_token(self, app: App, *, voip: bool = False) -> bytes | None:
        return self.voip_token if voip else self.token

    def _app_changed(self, app: App, *, filter_changed: bool) -> None:
        self.filter_changes += filter_changed

    def _status_changed(self, app: App) -> None:
        pass

    def _report(self, app: App, apns_id: str, stage: str, detail: dict[str, Any]) -> None:
        self.reports.append((apns_id, stage, detail))

    def _emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def stages(self, apns_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(stage, detail) for a, stage, detail in self.reports if a == apns_id]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

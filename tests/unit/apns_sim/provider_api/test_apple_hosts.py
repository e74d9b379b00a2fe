"""The drop-in ``:authority`` check, without sockets (docs/drop-in.md §3; docs/style.md habit 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apns_sim.provider_api.apple_hosts import AuthorityCheck, authority_matches, request_authority
from apns_sim.provider_api.service import ProviderService, ProviderSession
from apns_sim.push.auth import ConnectionAuth
from apns_sim.push.reasons import Reason
from apns_sim.push.request import PushRequest, Rejection, parse_request
from apns_sim.state import SimState

TOKEN = "ab" * 32


def _request(*extra: tuple[bytes, bytes], authority: bytes | None = None) -> PushRequest:
    pseudo = [(b":method", b"POST"), (b":scheme", b"https"), (b":path", f"/3/device/{TOKEN}".encode())]
    if authority is not None:
        pseudo.append((b":authority", authority))
    return parse_request([*pseudo, *extra], b'{"aps":{}}')


@pytest.mark.parametrize(("raw", "host"), [
    (b"api.push.apple.com", "api.push.apple.com"), (b"api.push.apple.com:2197", "api.push.apple.com"),
    (b"[::1]:443", "[::1]"),
])
def test_request_authority_drops_the_port(raw: bytes, host: str) -> None:
    assert request_authority(_request(authority=raw)) == host


def test_request_authority_falls_back_to_host_and_may_be_absent() -> None:
    """RFC 9113 §8.3.1: :authority, or a Host header; neither is accepted as is."""
    assert request_authority(_request((b"host", b"api.sandbox.push.apple.com"))) == "api.sandbox.push.apple.com"
    assert request_authority(_request()) is None


def test_an_alias_of_the_same_environment_matches_and_the_other_environment_does_not() -> None:
    assert authority_matches("api.development.push.apple.com", "sandbox")
    assert authority_matches("API.SANDBOX.PUSH.APPLE.COM", "sandbox")
    assert not authority_matches("api.push.apple.com", "sandbox")
    assert not authority_matches("example.com", "production")


@pytest.fixture
def check(tmp_path: Path) -> tuple[AuthorityCheck, SimState]:
    state = SimState(tmp_path / "sim")
    service = ProviderService(state, "sandbox")
    return AuthorityCheck(ProviderSession(service, ConnectionAuth(state.registry, "sandbox", None)), service), state


def test_the_other_environments_authority_is_forbidden_and_recorded(check: tuple[AuthorityCheck, SimState]) -> None:
    """docs/drop-in.md §3: 403 Forbidden, and the journey shows it like any other rejection."""
    handler, state = check
    outcome = handler.handle(_request(authority=b"api.push.apple.com"), "00000000-0000-0000-0000-000000000001")
    assert outcome == Rejection(Reason.FORBIDDEN)
    journey = state.journeys.get("00000000-0000-0000-0000-000000000001")
    assert journey is not None and journey.status == 403


def test_a_matching_authority_goes_on_to_the_usual_checks(check: tuple[AuthorityCheck, SimState]) -> None:
    """No JWT and no certificate: the session's own answer (MissingProviderToken), not the drop-in one."""
    handler, _state = check
    outcome = handler.handle(_request(authority=b"api.sandbox.push.apple.com:443"), "id-2")
    assert outcome == Rejection(Reason.MISSING_PROVIDER_TOKEN)
    assert handler.gate_open is False

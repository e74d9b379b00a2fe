"""The binary gateway's decisions and the feedback ledger, in memory on a real SimState (docs/legacy-binary.md §3-§5).

No sockets: a connection's core is fed bytes and its output read back (habit 8); time is the simulator's frozen
clock, moved by hand (habit 3).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from apns_sim.legacy import frames
from apns_sim.legacy.feedback import LEDGER_FILE, FeedbackLedger, FeedbackTuple, decode_tuples, encode_tuples
from apns_sim.legacy.frames import Notification, Status
from apns_sim.legacy.service import (
    STATUS_FOR_REASON,
    FeedbackService,
    GatewayConnection,
    GatewayService,
    status_for,
)
from apns_sim.model import journeys
from apns_sim.model.clock import Clock
from apns_sim.push.auth import CertificateIdentity
from apns_sim.push.reasons import Reason
from apns_sim.state import SimState

BUNDLE = "com.example.old"
IDENTITY = CertificateIdentity(bundle_id=BUNDLE, team_id="TEAM000001", topics=(BUNDLE,), serial=1)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SimState]:
    clock = Clock()
    clock.freeze()
    s = SimState(tmp_path / "apns", clock=clock)
    s.registry.add_app_id(BUNDLE, "TEAM000001", False, clock.now())
    s.registry.activate_device("dev-1", "iPhone", clock.now())
    yield s
    s.delivery.close()
    s.close()


def token_of(state: SimState, bundle: str = BUNDLE) -> str:
    return state.registry.app_token("dev-1", bundle, "sandbox", state.clock.now()).token


def connection(state: SimState) -> GatewayConnection:
    return GatewayConnection(GatewayService(state, "sandbox"), IDENTITY)


def wire(token: str, identifier: int, text: str = "hi", command: int = frames.ENHANCED) -> bytes:
    payload = json.dumps({"aps": {"alert": text}}).encode()
    return frames.encode_notification(Notification(command=command, token=bytes.fromhex(token), payload=payload,
                                                   identifier=identifier, expiry=0 if command else None))


def test_an_accepted_notification_takes_the_http2_journey(state: SimState) -> None:
    """§5: accepted in silence, journey "binary" with command and identifier, then delivery; the phone is offline
    and expiry 0 means one attempt, never stored (§2.2), so delivery discards it as it would an HTTP/2 push."""
    core = connection(state)
    token = token_of(state)
    core.receive_data(wire(token, 3, command=frames.FRAME)[:10])
    core.receive_data(wire(token, 3, command=frames.FRAME)[10:])
    assert core.data_to_send() == b"" and not core.finished and core.last_identifier == 3
    (journey,) = state.journeys.list()
    assert (journey.interface, journey.token, journey.status, journey.topic) == ("binary", token, 200, BUNDLE)
    assert [s["stage"] for s in journey.stages] == [journeys.ACCEPTED, journeys.DISCARDED]
    assert journey.stages[0]["command"] == 2 and journey.stages[0]["identifier"] == 3
    assert journey.as_json()["interface"] == "binary"


def test_a_bad_token_answers_8_and_ends_the_connection(state: SimState) -> None:
    """§3, §5: BadDeviceToken on HTTP/2 is status 8 here; later bytes are not read."""
    core = connection(state)
    good = token_of(state)
    core.receive_data(wire(good, 1) + wire("ab" * 32, 2) + wire(good, 3))
    assert frames.decode_error(core.data_to_send()) == frames.FrameError(status=Status.INVALID_TOKEN, identifier=2)
    assert core.finished and core.accepted == 1
    accepted, refused = state.journeys.list()
    assert accepted.status == 200
    assert refused.reason == "BadDeviceToken" and refused.stages[0]["binary_status"] == 8
    assert len(state.journeys) == 2  # the third was never processed


def test_an_uninstalled_apps_token_gets_silence(state: SimState) -> None:
    """§4, §5: the binary interface said nothing of removed apps; the connection goes on."""
    core = connection(state)
    token = token_of(state)
    now = state.clock.now()
    state.registry.mark_uninstalled(token, now, now)
    core.receive_data(wire(token, 4))
    assert core.data_to_send() == b"" and not core.finished
    (journey,) = state.journeys.list()
    assert journey.reason == "Unregistered" and "feedback" in journey.stages[0]["answer"]


def test_shutdown_names_the_last_accepted_identifier(state: SimState) -> None:
    """§3: status 10 with the last notification processed."""
    core = connection(state)
    core.receive_data(wire(token_of(state), 17))
    core.shutdown()
    assert core.data_to_send() == frames.encode_error(Status.SHUTDOWN, 17) and core.finished
    core.shutdown()
    assert core.data_to_send() == b""  # only once


def test_a_simple_notification_is_refused_by_closing_alone(state: SimState) -> None:
    """§3: command 0 has no identifier; the close is the whole answer."""
    core = connection(state)
    core.receive_data(wire("ab" * 32, 0, command=frames.SIMPLE))
    assert core.finished and core.data_to_send() == b""


def test_without_an_identity_the_connection_is_closed_unread(state: SimState) -> None:
    """§1: no valid push certificate, no conversation."""
    core = GatewayService(state, "sandbox").connect(None)
    core.receive_data(wire(token_of(state), 1))
    assert core.refused and core.finished and core.data_to_send() == b"" and len(state.journeys) == 0


@pytest.mark.parametrize("reason", list(Reason))
def test_every_http2_reason_has_a_binary_answer(reason: Reason) -> None:
    """§5: the mapped ones, silence for Unregistered, Processing error for the rest."""
    expected = None if reason is Reason.UNREGISTERED else STATUS_FOR_REASON.get(reason, Status.PROCESSING_ERROR)
    assert status_for(reason) == expected


def test_feedback_tuples_round_trip() -> None:
    """§4: time_t (4), token length (2), token; a cut tuple is an error."""
    entries = [FeedbackTuple(timestamp=1_300_000_000, token=b"\1" * 32), FeedbackTuple(timestamp=5, token=b"\2" * 8)]
    data = encode_tuples(entries)
    assert data[:6] == bytes.fromhex("4d7c6d000020") and decode_tuples(data) == entries
    with pytest.raises(ValueError):
        decode_tuples(data[:-1])


def test_feedback_lists_gone_tokens_once_on_the_simulators_clock(state: SimState) -> None:
    """§4: only after the 410 would start; once per token, across a restart; the certificate's app only."""
    token, other = token_of(state), token_of(state, "com.example.other")
    now = state.clock.now()
    later = now + timedelta(days=1)
    state.registry.mark_uninstalled(token, now, later)
    state.registry.mark_uninstalled(other, now, now)
    service = FeedbackService(state, "sandbox", FeedbackLedger(state.data_dir))
    ledger = FeedbackLedger(state.data_dir)
    assert ledger.take(state.registry, "sandbox", BUNDLE, state.clock.time()) == []
    state.clock.advance(24 * 3600 + 1)
    (entry,) = ledger.take(state.registry, "sandbox", BUNDLE, state.clock.time())
    assert entry == FeedbackTuple(timestamp=int(later.timestamp()), token=bytes.fromhex(token))
    assert FeedbackLedger(state.data_dir).take(state.registry, "sandbox", BUNDLE, state.clock.time()) == []
    assert stat.S_IMODE((state.data_dir / LEDGER_FILE).stat().st_mode) == 0o600
    assert FeedbackLedger(state.data_dir).take(state.registry, "production", BUNDLE, state.clock.time()) == []
    assert service.answer(None) is None  # no certificate: closed at once

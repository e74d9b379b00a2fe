"""The HTTP/2 core's bounds on hostile clients, bytes in and bytes out (docs/limits.md §1).

The same in-memory h2 client as test_connection.py; the socket-level attacks are in
tests/integration/test_provider_api_abuse.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import h2.errors
import h2.events
import h2.settings
import pytest
from cryptography import x509

from apns_sim.limits import PROVIDER_BODY_KEPT, PROVIDER_PARKED_BYTES, PROVIDER_REFUSED_STREAMS
from apns_sim.provider_api.service import ProviderService, ProviderSession
from apns_sim.state import SimConfig
from tests.unit.apns_sim.provider_api.test_connection import Client, World

Codes = h2.errors.ErrorCodes


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, SimConfig(max_concurrent_streams=5))
    yield w
    w.state.close()


def _starved(world: World) -> Client:
    """A certificate connection whose client grants no flow-control window at all."""
    client = world.connect(cert=world.sandbox_cert, pump=False)
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    client.pump()
    # a hostile client ignores the limit it was given: lift it on the client side so h2 lets us send
    client.conn.remote_settings.update({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2**31 - 1})
    client.conn.remote_settings.acknowledge()
    return client


def _resets(client: Client, code: int) -> list[int]:
    return [e.stream_id for e in client.events if isinstance(e, h2.events.StreamReset) and e.error_code == code]


def test_streams_waiting_for_window_count_against_the_limit(world: World) -> None:
    """docs/limits.md §1.1: 5 error answers wait for window; the 6th stream is refused, not admitted."""
    client = _starved(world)
    sids = [client.send("zz", body=b"") for _ in range(6)]
    client.pump()
    assert client.core.streams_in_use == 5
    assert _resets(client, Codes.REFUSED_STREAM) == [sids[5]]
    client.conn.increment_flow_control_window(65535, sids[0])  # one answer can go: its slot frees
    client.conn.increment_flow_control_window(65535)
    client.pump()
    assert client.core.streams_in_use == 4
    assert client.response(sids[0])[1] == [b'{"reason":"BadDeviceToken"}']


def test_a_client_that_keeps_opening_streams_over_the_limit_gets_enhance_your_calm(world: World) -> None:
    """docs/limits.md §1.1: after PROVIDER_REFUSED_STREAMS refusals in a row, GOAWAY ENHANCE_YOUR_CALM."""
    client = _starved(world)
    for _ in range(5 + PROVIDER_REFUSED_STREAMS + 50):
        client.send("zz", body=b"")
    client.pump()
    assert len(_resets(client, Codes.REFUSED_STREAM)) == PROVIDER_REFUSED_STREAMS + 1
    assert client.goaway().error_code == Codes.ENHANCE_YOUR_CALM
    assert client.core.finished


def test_parked_budget_refuses_the_stream_that_goes_over(tmp_path: Path) -> None:
    """docs/limits.md §1.2: with 1000 streams allowed, the streams past 2 MiB of parked body are refused."""
    w = World(tmp_path, SimConfig(max_concurrent_streams=1000))
    try:
        client = w.connect(cert=w.sandbox_cert)
        count = PROVIDER_PARKED_BYTES // PROVIDER_BODY_KEPT + 10
        for _ in range(count):
            sid = client.send(w.token, body=b"", end=False)
            client.conn.send_data(sid, b"x" * 4096)
            client.conn.send_data(sid, b"x" * 4096)
            client.pump()
        assert len(_resets(client, Codes.REFUSED_STREAM)) == 10
        assert client.core._parked == PROVIDER_PARKED_BYTES
        assert not [e for e in client.events if isinstance(e, h2.events.ConnectionTerminated)]
    finally:
        w.state.close()


def test_body_beyond_what_is_kept_is_only_counted(world: World) -> None:
    """docs/limits.md §1.2: a 20 KB body keeps 8 KiB and is answered 413 PayloadTooLarge, as a whole."""
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send(world.token, body=b"x" * 10000, end=False)
    client.conn.send_data(sid, b"x" * 10000, end_stream=True)
    client.pump()
    headers, data = client.response(sid)
    assert headers[":status"] == "413" and data == [b'{"reason":"PayloadTooLarge"}']
    assert client.core._parked == 0


def test_h2_forgets_answered_streams_once_per_read(tmp_path: Path) -> None:
    """docs/limits.md §1.1: h2 no longer counts open streams per new stream; closed ones still go, per read."""
    w = World(tmp_path, SimConfig(max_concurrent_streams=1000))
    try:
        client = w.connect(cert=w.sandbox_cert)
        for _ in range(3):
            sids = [client.send("zz", body=b"") for _ in range(300)]
            client.pump()
            assert len(client.of(sids[-1], h2.events.StreamEnded)) == 1
            assert len(client.core._conn.streams) <= 1  # 300 answered streams: forgotten after the read
        assert client.core._conn.open_inbound_streams == 0  # what h2's own limit check sees
    finally:
        w.state.close()


@pytest.mark.parametrize("credentials", ["certificate", "key"])
def test_revoked_credentials_answer_in_flight_requests_with_their_reason(world: World, credentials: str) -> None:
    """docs/limits.md §1.6: once the sweep finds the revocation, every request on that connection is refused with
    the reason a new connection would get (BadCertificate, InvalidProviderToken), one registry read per sweep."""
    service = ProviderService(world.state, "sandbox")
    cert = world.sandbox_cert if credentials == "certificate" else None
    client = Client(service.connect(cert, "h2"))
    auth = [] if cert else [("authorization", world.bearer()), ("apns-topic", "com.example.app")]
    sid = client.send(world.token, headers=auth)
    client.pump()
    assert client.response(sid)[0][":status"] == "200"
    session = client.core.handler
    assert isinstance(session, ProviderSession)
    assert service.revocations([session]) == []
    now = datetime.fromtimestamp(world.state.clock.time() - 1).astimezone()
    if cert:
        world.state.registry.revoke_certificate(x509.load_der_x509_certificate(cert).serial_number, now)
    else:
        world.state.registry.revoke_auth_key(world.key_id, now)
    reason = "BadCertificate" if cert else "InvalidProviderToken"
    assert [(s, r.wire) for s, r in service.revocations([session, session])] == [(session, reason)]
    sid = client.send(world.token, headers=auth)
    client.pump()
    headers, data = client.response(sid)
    assert headers[":status"] == "403" and data == [f'{{"reason":"{reason}"}}'.encode()]

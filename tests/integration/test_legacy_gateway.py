"""The binary gateway and feedback service over real TLS on 127.0.0.1 (docs/legacy-binary.md).

The provider side is :mod:`provider.legacy` or raw bytes on an ``ssl`` socket; what happened is read back from
the simulator's journeys and from what the phone presented. Verification is on everywhere (habit 7).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
from pathlib import Path

import pytest

from apns_sim import limits
from apns_sim.model import journeys
from device_sim import App, Phone
from provider import legacy
from provider.apns import load_pem
from provider.apns.credentials import CertificateCredentials
from pushsim.harness import RunningSimulator
from pushsim.phones import IPhoneFactory

BUNDLE = "com.example.legacy"


def address(sim: RunningSimulator, key: str) -> tuple[str, int]:
    host, _, port = sim.endpoints[key].rpartition(":")
    return host, int(port)


def creds(sim: RunningSimulator, environment: str = "sandbox") -> CertificateCredentials:
    return load_pem(sim.issue_certificate(BUNDLE, environment).pem)


def payload(text: str) -> bytes:
    return json.dumps({"aps": {"alert": text, "sound": "default"}}).encode()


async def send(sim: RunningSimulator, credentials: CertificateCredentials, *notes: legacy.LegacyNotification,
               fmt: str = "frame", key: str = "legacy_sandbox", wait: float = 1.0) -> legacy.SendReport:
    host, port = address(sim, key)
    return await legacy.send(credentials, notes, host=host, port=port, ca_file=sim.ca_file, fmt=fmt, wait=wait)


async def raw_exchange(sim: RunningSimulator, credentials: CertificateCredentials, chunks: list[bytes],
                       pause: float = 0.05) -> bytes:
    """Write ``chunks`` one TCP write at a time, then read until the server closes (or 2 s of silence)."""
    host, port = address(sim, "legacy_sandbox")
    reader, writer = await asyncio.open_connection(host, port, ssl=legacy.ssl_context(credentials, sim.ca_file))
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(pause)
    try:
        return await asyncio.wait_for(reader.read(), 2.0)
    except TimeoutError:
        return b"(open)"
    finally:
        writer.close()


async def online_app(sim: RunningSimulator, iphones: IPhoneFactory, types: tuple[str, ...] = ("alert",),
                     ) -> tuple[CertificateCredentials, Phone, App, str]:
    """A sandbox push certificate for BUNDLE, and an online phone whose app registered for it."""
    credentials = creds(sim)
    phone = await iphones()
    app = phone.install_app(BUNDLE, types=types)
    return credentials, phone, app, await app.register(timeout=10)


def binary_journeys(sim: RunningSimulator) -> list[dict[str, object]]:
    return [n for n in sim.notifications() if n["interface"] == "binary"]


@pytest.mark.parametrize("fmt", ["simple", "enhanced", "frame"])
async def test_every_format_reaches_the_phone_through_the_same_journey(
        sim: RunningSimulator, iphones: IPhoneFactory, fmt: str) -> None:
    """docs/legacy-binary.md §2, §5: commands 0, 1 and 2 are accepted in silence and take the HTTP/2 path."""
    credentials, _, app, token = await online_app(sim, iphones, ("alert", "sound"))
    report = await send(sim, credentials, legacy.LegacyNotification(token=token, payload=payload(f"via {fmt}"),
                                                                    identifier=7), fmt=fmt)
    assert report.silent_success and report.written == 1
    received = await app.next_notification(timeout=10)
    assert received.payload["aps"]["alert"] == f"via {fmt}"
    entry = sim.notification(received.apns_id)
    assert entry is not None and entry["interface"] == "binary" and entry["token"] == token
    await sim.wait_for_notification(apns_id=received.apns_id, stage=journeys.PRESENTED)
    stages = sim.stages(received.apns_id)
    assert stages[:3] == [journeys.ACCEPTED, journeys.DELIVERED, journeys.ACKNOWLEDGED]
    accepted = entry["journey"][0]
    assert accepted["command"] == legacy.FORMATS[fmt]


async def test_a_bad_token_answers_status_8_and_loses_what_was_written_after_it(
        sim: RunningSimulator, iphones: IPhoneFactory) -> None:
    """docs/legacy-binary.md §3: the first bad notification gets one error-response naming its identifier; the
    connection closes and the good notification written after it on the same connection is never processed."""
    credentials, _, app, token = await online_app(sim, iphones)
    notes = [legacy.LegacyNotification(token=token, payload=payload("first"), identifier=1),
             legacy.LegacyNotification(token="ab" * 32, payload=payload("to nobody"), identifier=2),
             legacy.LegacyNotification(token=token, payload=payload("lost"), identifier=3)]
    report = await send(sim, credentials, *notes, fmt="enhanced")
    assert report.error == legacy.ErrorResponse(status=8, identifier=2)
    assert (await app.next_notification(timeout=10)).payload["aps"]["alert"] == "first"
    with pytest.raises(asyncio.TimeoutError):
        await app.next_notification(timeout=0.5)
    seen = [(n["token"], n["status"]) for n in binary_journeys(sim)]
    assert seen == [(token, 200), ("ab" * 32, 400)]
    rejected = binary_journeys(sim)[1]["journey"][0]
    assert rejected["binary_status"] == 8 and rejected["identifier"] == 2


async def test_a_frame_split_across_reads_is_reassembled(sim: RunningSimulator, iphones: IPhoneFactory) -> None:
    """docs/legacy-binary.md §2: TCP may cut a frame anywhere; one byte per write still makes one notification."""
    credentials, _, app, token = await online_app(sim, iphones)
    data = legacy.encode(legacy.LegacyNotification(token=token, payload=payload("in pieces"), identifier=9))
    cuts = [data[:1], data[1:4], data[4:40], data[40:]]
    answer = await raw_exchange(sim, credentials, cuts)
    assert answer == b"(open)"  # success is silence, and the connection stays open
    assert (await app.next_notification(timeout=10)).payload["aps"]["alert"] == "in pieces"


@pytest.mark.parametrize(("notification", "status"), [
    (struct.pack(">BIIH", 1, 5, 0, 0) + struct.pack(">H", 2) + b"{}", 2),          # zero-length token
    (struct.pack(">BIIH", 1, 5, 0, 101), 5),                                      # token over 100 bytes
    (struct.pack(">BIIH", 1, 5, 0, 32) + b"\x01" * 32 + struct.pack(">H", 2049), 7),  # payload over 2 KB
    (struct.pack(">BI", 2, 60_000), 7),                                           # frame over the bound
    (b"\x07rubbish", 128),                                                        # unknown command
])
async def test_refusals_arrive_before_the_oversize_part_is_sent(
        sim: RunningSimulator, notification: bytes, status: int) -> None:
    """docs/legacy-binary.md §3, docs/limits.md §5: sizes are judged when the length field arrives, so the
    server answers and closes without waiting for (or buffering) the bytes the header promises."""
    answer = await raw_exchange(sim, creds(sim), [notification])
    assert answer[:1] == b"\x08" and answer[1] == status and len(answer) == 6


async def test_a_bad_simple_notification_gets_only_the_close(sim: RunningSimulator) -> None:
    """docs/legacy-binary.md §3: command 0 has no identifier, and Apple answered a bad one by closing alone."""
    bad = struct.pack(">BH", 0, 32) + b"\x01" * 32 + struct.pack(">H", 2) + b"{}"  # a token APNs never issued
    assert await raw_exchange(sim, creds(sim), [bad]) == b""
    assert [n["journey"][0]["binary_status"] for n in binary_journeys(sim)] == [8]


async def test_a_truncated_frame_is_never_delivered(sim: RunningSimulator, iphones: IPhoneFactory) -> None:
    """docs/legacy-binary.md §2: a connection that ends inside a notification delivers nothing of it."""
    credentials, _, app, token = await online_app(sim, iphones)
    data = legacy.encode(legacy.LegacyNotification(token=token, payload=payload("cut"), identifier=4))
    host, port = address(sim, "legacy_sandbox")
    _, writer = await asyncio.open_connection(host, port, ssl=legacy.ssl_context(credentials, sim.ca_file))
    writer.write(data[:-3])
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    with pytest.raises(asyncio.TimeoutError):
        await app.next_notification(timeout=0.5)
    assert binary_journeys(sim) == []


async def test_without_a_push_certificate_the_handshake_fails(sim: RunningSimulator) -> None:
    """docs/legacy-binary.md §1: the binary interface knew only certificates; no certificate, no connection."""
    host, port = address(sim, "legacy_sandbox")
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        writer.write(b"\x00")
        await writer.drain()
        assert await reader.read() == b""
        raise ConnectionError("closed without an answer")


async def test_a_sandbox_certificate_is_refused_by_the_production_gateway(sim: RunningSimulator) -> None:
    """docs/legacy-binary.md §1: each environment's gateway takes only its own certificates: closed, no answer."""
    report = await send(sim, creds(sim, "sandbox"), legacy.LegacyNotification(token="ab" * 32, payload=b"{}"),
                        key="legacy_production")
    assert report.error is None and report.closed and not report.silent_success
    assert binary_journeys(sim) == []


async def test_closing_the_simulator_sends_shutdown_with_the_last_identifier(tmp_path: Path) -> None:
    """docs/legacy-binary.md §3: status 10 names the last notification processed, so the provider resends after it."""
    async with RunningSimulator.start(tmp_path / "sim") as sim:
        credentials = creds(sim)
        sim.state.registry.activate_device("dev-1", "iPhone", sim.clock.now())  # an offline phone: stored
        token = sim.state.registry.app_token("dev-1", BUNDLE, "sandbox", sim.clock.now()).token
        host, port = address(sim, "legacy_sandbox")
        reader, writer = await asyncio.open_connection(host, port, ssl=legacy.ssl_context(credentials, sim.ca_file))
        writer.write(legacy.encode(legacy.LegacyNotification(token=token, payload=payload("x"), identifier=41)))
        await writer.drain()
        await asyncio.sleep(0.2)
        closing = asyncio.create_task(sim.simulator.stop())
        packet = await asyncio.wait_for(reader.read(6), 5)
        await closing
        writer.close()
    assert legacy.parse_error(packet) == legacy.ErrorResponse(status=10, identifier=41)


async def test_feedback_lists_an_uninstalled_app_once_with_the_410_timestamp(
        sim: RunningSimulator, iphones: IPhoneFactory) -> None:
    """docs/legacy-binary.md §4: one tuple per token whose app is gone, timestamped when APNs learnt it (the
    410's timestamp, in seconds), then close; read once, then gone."""
    credentials, phone, _, token = await online_app(sim, iphones)
    host, port = address(sim, "feedback_sandbox")
    assert await legacy.read_feedback(credentials, host=host, port=port, ca_file=sim.ca_file) == []
    assert await phone.uninstall(BUNDLE)
    record = sim.state.registry.get_token(token)
    assert record is not None and record.unregistered_at is not None
    entries = await legacy.read_feedback(credentials, host=host, port=port, ca_file=sim.ca_file)
    assert entries == [legacy.FeedbackEntry(timestamp=int(record.unregistered_at.timestamp()), token=token)]
    assert await legacy.read_feedback(credentials, host=host, port=port, ca_file=sim.ca_file) == []
    other_host, other_port = address(sim, "feedback_production")
    production = creds(sim, "production")
    assert await legacy.read_feedback(production, host=other_host, port=other_port, ca_file=sim.ca_file) == []


async def test_a_stored_binary_notification_keeps_its_interface_across_a_restart(tmp_path: Path) -> None:
    """docs/legacy-binary.md §5, docs/admin-api.md: the journey of a stored notification is read back after a
    restart, and still says it came by the binary interface."""
    async with RunningSimulator.start(tmp_path / "sim") as sim:
        credentials = creds(sim)
        sim.state.registry.activate_device("dev-1", "iPhone", sim.clock.now())  # never online: stored
        token = sim.state.registry.app_token("dev-1", BUNDLE, "sandbox", sim.clock.now()).token
        expiry = int(sim.clock.time()) + 3600
        report = await send(sim, credentials, legacy.LegacyNotification(token=token, payload=payload("later"),
                                                                        identifier=8, expiry=expiry), wait=0.3)
        assert report.error is None
        (stored,) = binary_journeys(sim)
        assert [s["stage"] for s in stored["journey"]] == [journeys.ACCEPTED, journeys.STORED]
    async with RunningSimulator.start(tmp_path / "sim") as again:
        written: list[object] = []
        again.state.delivery.attach("dev-1", "sandbox", written.append)  # the phone comes back: storage flushes
        restored = again.notification(str(stored["apns_id"]))
        assert restored is not None and restored["interface"] == "binary" and len(written) == 1
        assert [s["stage"] for s in restored["journey"]][-2:] == ["restored", journeys.DELIVERED]


async def test_connections_past_the_limit_are_closed_at_once(sim: RunningSimulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/limits.md §5: LEGACY_MAX_CONNECTIONS per listener (lowered to 2 here); the next one is cut."""
    monkeypatch.setattr(limits, "LEGACY_MAX_CONNECTIONS", 2)
    credentials = creds(sim)
    host, port = address(sim, "legacy_sandbox")
    ctx = legacy.ssl_context(credentials, sim.ca_file)
    held = [await asyncio.open_connection(host, port, ssl=ctx) for _ in range(2)]
    await asyncio.sleep(0.1)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            held.append((reader, writer))
            assert await asyncio.wait_for(reader.read(), 2) == b""
            raise ConnectionError("closed without a word")
        assert len(sim.simulator.legacy["sandbox"].connections) == 2
    finally:
        for _, writer in held:
            writer.close()


async def test_feedback_sends_at_most_the_limit_per_read(sim: RunningSimulator,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/limits.md §5: LEGACY_FEEDBACK_MAX_TUPLES per connection (lowered to 1 here); the rest wait."""
    monkeypatch.setattr(limits, "LEGACY_FEEDBACK_MAX_TUPLES", 1)
    credentials = creds(sim)
    registry, now = sim.state.registry, sim.clock.now()
    registry.activate_device("dev-1", "iPhone", now)
    registry.activate_device("dev-2", "iPhone", now)
    tokens = {registry.app_token(device, BUNDLE, "sandbox", now).token for device in ("dev-1", "dev-2")}
    for token in tokens:
        registry.mark_uninstalled(token, now, now)
    host, port = address(sim, "feedback_sandbox")
    reads = [await legacy.read_feedback(credentials, host=host, port=port, ca_file=sim.ca_file) for _ in range(3)]
    assert [len(r) for r in reads] == [1, 1, 0] and {r[0].token for r in reads[:2]} == tokens

"""The courier wire codec (docs/device-side.md §1.2-1.5), bytes only: round trips, partial feeds, garbage, proofs."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from apns_sim import courier
from apns_sim.courier import (
    AppStatus,
    Command,
    Connect,
    ConnectAck,
    ConnectProofError,
    CourierProtocolError,
    Decoder,
    Filter,
    KeepAlive,
    KeepAliveAck,
    Push,
    PushAck,
    ScopedTokenAck,
    ScopedTokenRequest,
    SimReport,
    Unknown,
)

TOKEN = bytes(range(32))
TOPIC = courier.topic_hash("com.example.app")
APNS_ID = str(uuid.UUID("8e1a5a2e-7d6c-4c5b-9a1f-0123456789ab"))
NOW_MS = 1_790_000_000_000

MESSAGES: list[courier.Message] = [
    Connect(certificate=b"\x30\x82cert", nonce=b"\x00" * 17, signature=b"\x01\x01sig", base_token=TOKEN),
    Connect(certificate=b"c", nonce=b"n", signature=b"s", state=2, presence_flags=0x45, protocol_version=9),
    ConnectAck(status=0, base_token=TOKEN, max_message_size=5120, server_time_ms=NOW_MS),
    ConnectAck(status=2, reason="device authentication failed"),
    Filter(base_token=TOKEN, enabled=(TOPIC, courier.topic_hash("com.example.other")), ignored=(b"\x01" * 20,)),
    Filter(),
    Push(token=TOKEN, topic=TOPIC, payload=b'{"aps":{"alert":"hi"}}', message_id=0xDEADBEEF, expiry=1_800_000_000,
         timestamp_ns=NOW_MS * 1_000_000, storage_flags=0x03, apns_id=APNS_ID, priority=10, push_type="alert",
         collapse_id="score-é"),
    Push(token=TOKEN, topic=TOPIC, payload=b"{}", message_id=1),
    PushAck(message_id=7, status=courier.ACK_APP_NOT_INSTALLED, token=TOKEN),
    PushAck(message_id=8),
    KeepAlive(),
    KeepAliveAck(),
    ScopedTokenRequest(topic=TOPIC, bundle_id="com.example.app", base_token=TOKEN),
    ScopedTokenAck(status=0, topic=TOPIC, token=TOKEN),
    ScopedTokenAck(status=2, topic=TOPIC, reason="no"),
    SimReport(apns_id=APNS_ID, stage="presented", detail={"alert": "hi", "sound": None, "badge": 1}),
    SimReport(apns_id=APNS_ID, stage="handed_to_app", detail={"bundle_id": "com.example.app"},
              later=(("presented", {"alert": "hi"}),)),
    AppStatus(bundle_id="com.example.app", environment="sandbox", permission="authorized",
              options=("alert", "sound", "badge"), badge=3, state="foreground"),
    AppStatus(bundle_id="com.example.app", environment="production", permission="not_determined",
              state="force_quit"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: courier.Message) -> None:
    assert Decoder().feed(message.encode()) == [message]  # type: ignore[union-attr]


def test_frame_layout_matches_the_reference() -> None:
    """§1.2: 1-byte command, 4-byte big-endian length, items of 1-byte id + 2-byte length + value."""
    frame = PushAck(message_id=0x01020304, status=0).encode()
    assert frame == bytes([0x0B, 0, 0, 0, 11, 4, 0, 4, 1, 2, 3, 4, 8, 0, 1, 0])
    assert KeepAlive().encode() == b"\x0c\x00\x00\x00\x00"
    push = Push(token=TOKEN, topic=TOPIC, payload=b"{}", message_id=5, apns_id=APNS_ID).encode()
    assert b"\x15\x00\x10" + uuid.UUID(APNS_ID).bytes in push  # apns-id as a 16-byte UUID
    assert push[0] == Command.PUSH


def test_topic_is_sha1_of_the_bundle_id() -> None:
    assert courier.topic_hash("com.apple.madrid").hex() == "e4e6d952954168d0a5db02dbaf27cc35fc18d159"
    assert courier.topic_hash("com.example.app") == hashlib.sha1(b"com.example.app").digest()


def test_partial_feeds_one_byte_at_a_time() -> None:
    stream = b"".join(m.encode() for m in MESSAGES)  # type: ignore[union-attr]
    decoder = Decoder()
    out: list[courier.Message] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == MESSAGES
    assert decoder.buffered == 0


def test_split_frames_and_several_frames_in_one_chunk() -> None:
    a, b = KeepAlive().encode(), PushAck(message_id=3).encode()
    decoder = Decoder()
    assert decoder.feed(a + b[:4]) == [KeepAlive()]
    assert decoder.buffered == 4
    assert decoder.feed(b[4:]) == [PushAck(message_id=3)]


def test_unmodelled_commands_decode_as_unknown() -> None:
    frame = bytes([0x14, 0, 0, 0, 4, 1, 0, 1, 1])
    assert Decoder().feed(frame) == [Unknown(command=0x14, items=((1, b"\x01"),))]


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\n",             # not our protocol at all
    b"\x16\x03\x01\x00\xa5",           # a TLS ClientHello on the plaintext side
    b"\x00\x00\x00\x00\x00",           # obsolete pre-iOS 5 command
], ids=["http", "tls", "obsolete"])
def test_garbage_is_refused_at_the_first_byte(garbage: bytes) -> None:
    decoder = Decoder()
    with pytest.raises(CourierProtocolError, match="not a courier command"):
        decoder.feed(garbage)
    with pytest.raises(CourierProtocolError):  # and stays broken
        decoder.feed(KeepAlive().encode())


def test_oversized_frame_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(CourierProtocolError, match="limit"):
        Decoder().feed(bytes([0x0A]) + (courier.MAX_FRAME_SIZE + 1).to_bytes(4, "big"))


@pytest.mark.parametrize(("frame", "match"), [
    (bytes([0x0B, 0, 0, 0, 2, 4, 0]), "truncated item header"),
    (bytes([0x0B, 0, 0, 0, 4, 4, 0, 9, 1]), "runs past the end"),
    (bytes([0x0B, 0, 0, 0, 4, 8, 0, 1, 0]), "lacks required item 4"),
    (bytes([0x0B, 0, 0, 0, 9, 4, 0, 2, 0, 1, 8, 0, 1, 0]), "must be 4 bytes"),
    (bytes([0x09, 0, 0, 0, 6, 2, 0, 3, 1, 2, 3]), "must be 20 bytes"),
])
def test_malformed_items_are_protocol_errors(frame: bytes, match: str) -> None:
    with pytest.raises(CourierProtocolError, match=match):
        Decoder().feed(frame)


@pytest.mark.parametrize(("change", "match"), [
    ({"permission": "maybe"}, "permission"),
    ({"state": "asleep"}, "app state"),
    ({"bundle_id": ""}, "bundle id"),
])
def test_app_status_refuses_values_outside_its_tables(change: dict[str, str], match: str) -> None:
    """[sim] 0x32: the gateway only keeps statuses it can show (the permission and state tables)."""
    fields: dict[str, Any] = {"bundle_id": "com.example.app", "environment": "sandbox", "permission": "denied",
                              "state": "background", **change}
    with pytest.raises(CourierProtocolError, match=match):
        Decoder().feed(AppStatus(**fields).encode())


def test_sim_report_detail_must_be_a_json_object() -> None:
    body = b"\x01\x00\x10" + uuid.UUID(APNS_ID).bytes + b"\x02\x00\x09presented\x03\x00\x02[]"
    with pytest.raises(CourierProtocolError, match="JSON object"):
        Decoder().feed(bytes([0x30]) + len(body).to_bytes(4, "big") + body)


def test_sim_report_carries_several_stages_in_order_in_one_frame() -> None:
    """[sim] 0x30: one frame per push; stages are item 2 / item 3 pairs after the apns-id (item 1)."""
    report = SimReport(apns_id=APNS_ID, stage="handed_to_app", detail={"bundle_id": "b"},
                       later=(("presented", {"badge": 1}), ("not_presented", {})))
    frame = report.encode()
    assert frame.count(b"\x02\x00\x0dhanded_to_app") == 1 and frame.count(b"\x02\x00\x09presented") == 1
    assert frame.index(b"handed_to_app") < frame.index(b"presented") < frame.index(b"not_presented")
    (decoded,) = Decoder().feed(frame)
    assert isinstance(decoded, SimReport)
    assert decoded.stages == (("handed_to_app", {"bundle_id": "b"}), ("presented", {"badge": 1}),
                              ("not_presented", {}))
    # A single-stage frame (what older phones send) decodes to one stage with nothing later.
    body = b"\x01\x00\x10" + uuid.UUID(APNS_ID).bytes + b"\x02\x00\x09presented"
    (single,) = Decoder().feed(bytes([0x30]) + len(body).to_bytes(4, "big") + body)
    assert isinstance(single, SimReport) and single.stages == (("presented", {}),)


def test_sim_report_with_more_details_than_stages_is_refused() -> None:
    body = b"\x01\x00\x10" + uuid.UUID(APNS_ID).bytes + b"\x02\x00\x09presented\x03\x00\x02{}\x03\x00\x02{}"
    with pytest.raises(CourierProtocolError, match="more details"):
        Decoder().feed(bytes([0x30]) + len(body).to_bytes(4, "big") + body)


def test_uuids_decode_to_the_canonical_lower_case_form() -> None:
    value = uuid.uuid4()
    assert courier.uuid_text(value.bytes) == str(value)
    upper = str(value).upper()
    push = Push(token=TOKEN, topic=TOPIC, payload=b"{}", message_id=1, apns_id=upper).encode()
    (decoded,) = Decoder().feed(push)
    assert isinstance(decoded, Push) and decoded.apns_id == str(value)
    braced = Push(token=TOKEN, topic=TOPIC, payload=b"{}", message_id=1, apns_id="{" + upper + "}").encode()
    assert braced == push  # non-canonical spellings still go through uuid.UUID
    with pytest.raises(ValueError, match="UUID"):
        SimReport(apns_id="zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", stage="presented").encode()


def test_encoding_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="65535"):
        Push(token=TOKEN, topic=TOPIC, payload=b"x" * 70_000, message_id=1).encode()
    with pytest.raises(ValueError, match="UUID"):
        SimReport(apns_id="not-a-uuid", stage="presented").encode()


# -- the Connect proof (§1.5) -------------------------------------------------------------------------


def _device_cert(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(uuid.uuid4()).upper())])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def device_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_proof_layout_and_verification(device_key: rsa.RSAPrivateKey) -> None:
    nonce, signature = courier.make_connect_proof(device_key, NOW_MS, random=b"R" * 8)
    assert nonce == b"\x00" + NOW_MS.to_bytes(8, "big") + b"R" * 8
    assert signature[:2] == b"\x01\x01" and len(signature) == 2 + 128
    courier.verify_connect_proof(_device_cert(device_key), nonce, signature, NOW_MS + 1000, 60_000)


def test_tampered_nonce_or_signature_fails(device_key: rsa.RSAPrivateKey) -> None:
    cert = _device_cert(device_key)
    nonce, signature = courier.make_connect_proof(device_key, NOW_MS)
    tampered = nonce[:-1] + bytes([nonce[-1] ^ 1])
    with pytest.raises(ConnectProofError, match="does not match"):
        courier.verify_connect_proof(cert, tampered, signature, NOW_MS, 60_000)
    with pytest.raises(ConnectProofError, match="does not match"):
        courier.verify_connect_proof(cert, nonce, signature[:-1] + bytes([signature[-1] ^ 1]), NOW_MS, 60_000)
    with pytest.raises(ConnectProofError, match="01 01"):
        courier.verify_connect_proof(cert, nonce, b"\x01\x02" + signature[2:], NOW_MS, 60_000)
    with pytest.raises(ConnectProofError, match="17 bytes"):
        courier.verify_connect_proof(cert, nonce[1:], signature, NOW_MS, 60_000)


def test_proof_from_another_key_or_too_old_fails(device_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    nonce, signature = courier.make_connect_proof(other, NOW_MS)
    with pytest.raises(ConnectProofError, match="does not match"):
        courier.verify_connect_proof(_device_cert(device_key), nonce, signature, NOW_MS, 60_000)
    nonce, signature = courier.make_connect_proof(device_key, NOW_MS - 600_000)
    with pytest.raises(ConnectProofError, match="clock"):
        courier.verify_connect_proof(_device_cert(device_key), nonce, signature, NOW_MS, 60_000)


def test_proof_needs_an_rsa_certificate(device_key: rsa.RSAPrivateKey) -> None:
    nonce, signature = courier.make_connect_proof(device_key, NOW_MS)
    ec_cert = _device_cert(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConnectProofError, match="RSA"):
        courier.verify_connect_proof(ec_cert, nonce, signature, NOW_MS, 60_000)


def _report_with_detail(detail: bytes) -> bytes:
    return courier._frame(Command.SIM_REPORT, [(1, uuid.uuid4().bytes), (2, b"presented"), (3, detail)])


@pytest.mark.parametrize("levels", [courier.MAX_DETAIL_DEPTH + 1, 5000])
def test_a_report_detail_nested_too_deep_is_a_protocol_error(levels: int) -> None:
    """docs/limits.md §2: deeper than MAX_DETAIL_DEPTH is refused, and deeper than the interpreter's stack is
    the same protocol error, not a RecursionError."""
    detail = b'{"a":' * levels + b"1" + b"}" * levels
    with pytest.raises(CourierProtocolError, match="nests deeper"):
        courier.Decoder().feed(_report_with_detail(detail))


def test_a_report_detail_at_the_depth_limit_is_accepted() -> None:
    levels = courier.MAX_DETAIL_DEPTH
    detail = b'{"a":' * levels + b"[1]" + b"}" * (levels - 0)
    with pytest.raises(CourierProtocolError):  # MAX_DETAIL_DEPTH objects plus one array: one level too many
        courier.Decoder().feed(_report_with_detail(detail))
    detail = b'{"a":' * levels + b"1" + b"}" * levels
    (report,) = courier.Decoder().feed(_report_with_detail(detail))
    assert isinstance(report, courier.SimReport) and report.stage == "presented"

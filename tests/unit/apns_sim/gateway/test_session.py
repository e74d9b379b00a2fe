"""The courier session in memory: frames in as a phone builds them, frames out, and what the simulator records.

docs/style.md habit 8 ("test bytes before sockets"). The session is the real one over a SimState in a temporary
directory, its phone activated by :func:`apns_sim.gateway.activation.activate`; the phone side is
:mod:`apns_sim.courier`'s encoders and decoder, the host a recorder of the gateway bookkeeping. Sections cited
are docs/device-side.md's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from apns_sim import courier, pki
from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.faults.rules import FAULT_STAGE, FaultRule
from apns_sim.gateway.activation import activate
from apns_sim.gateway.session import MAX_MESSAGE_SIZE, CloseCause, CourierSession
from apns_sim.model import journeys
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import Journey
from apns_sim.model.registry import ACTIVE, UNINSTALLED
from apns_sim.state import SimState

SANDBOX = "courier.sandbox.push.apple.com"
BUNDLE = "com.example.pushchat"
WALL_MS = 1_700_000_000_000  # the phone's and the gateway's wall clock (§1.5), fixed
ALERT = {"aps": {"alert": "Hello"}}


@pytest.fixture(scope="module")
def device_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SimState]:
    clock = Clock()
    clock.freeze()
    s = SimState(tmp_path / "apns", clock=clock)
    yield s
    s.close()


def _csr(key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


class Host:
    """The gateway around one session: one connection per phone (``current``), and wake-ups counted."""

    def __init__(self) -> None:
        self.current: set[tuple[str, str]] = set()
        self.claims: list[tuple[str, str]] = []
        self.wakes = 0

    def claim(self, device_id: str, environment: str) -> None:
        self.claims.append((device_id, environment))
        self.current.add((device_id, environment))

    def release(self, device_id: str, environment: str) -> bool:
        if (device_id, environment) not in self.current:
            return False
        self.current.remove((device_id, environment))
        return True

    def output_ready(self) -> None:
        self.wakes += 1


class Phone:
    """One activated phone's side of a session: encode frames in, decode what the session queued."""

    def __init__(self, state: SimState, key: rsa.RSAPrivateKey, *, server_name: str | None = SANDBOX,
                 wall_ms: int = WALL_MS) -> None:
        self.state, self.key = state, key
        self.device_id, pem = activate(state, _csr(key, str(uuid.uuid4()).upper()), "Test iPhone")
        self.cert_der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        self.reconnect(server_name=server_name, wall_ms=wall_ms)

    def reconnect(self, *, server_name: str | None = SANDBOX, wall_ms: int = WALL_MS) -> None:
        """A new connection (session, host, decoder) for the same phone."""
        self.host = Host()
        self.session = CourierSession(self.state, self.host, server_name=server_name, wall_ms=lambda: wall_ms)
        self._decoder = courier.Decoder()

    def connect_frame(self, *, key: rsa.RSAPrivateKey | None = None, cert_der: bytes | None = None,
                      now_ms: int = WALL_MS, **items: Any) -> courier.Connect:
        nonce, signature = courier.make_connect_proof(key or self.key, now_ms)
        return courier.Connect(certificate=self.cert_der if cert_der is None else cert_der, nonce=nonce,
                               signature=signature, **items)

    def send(self, *messages: Any) -> list[courier.Message]:
        """Frames as one read from the phone; what the session answered, decoded."""
        self.session.receive_data(b"".join(m.encode() for m in messages))
        return self.received()

    def received(self) -> list[courier.Message]:
        return self._decoder.feed(self.session.data_to_send())

    def connect(self, **items: Any) -> courier.ConnectAck:
        answer = self.send(self.connect_frame(**items))
        assert isinstance(answer[0], courier.ConnectAck) and answer[0].status == courier.STATUS_OK, answer
        return answer[0]

    def token(self, bundle_id: str = BUNDLE) -> str:
        (ack,) = self.send(courier.ScopedTokenRequest(topic=courier.topic_hash(bundle_id), bundle_id=bundle_id))
        assert isinstance(ack, courier.ScopedTokenAck) and ack.token is not None
        return ack.token.hex()


def submit(state: SimState, token: str, payload: Any = ALERT) -> str:
    """What the provider API does with an accepted request: begin the journey, hand it to delivery."""
    record = state.registry.get_token(token)
    assert record is not None
    apns_id = str(uuid.uuid4()).upper()
    state.journeys.begin(Journey(apns_id=apns_id, token=token, topic=record.topic, environment=record.environment,
                                 status=200), journeys.ACCEPTED)
    state.delivery.submit(PushMessage(
        apns_id=apns_id, token=token, device_id=record.device_id, bundle_id=record.bundle_id, topic=record.topic,
        environment=record.environment, payload=json.dumps(payload).encode(), push_type="alert", priority=10,
        expiration=None, collapse_id=None, accepted_at=state.clock.time()))
    return apns_id


def stages(state: SimState, apns_id: str) -> list[str]:
    journey = state.journeys.get(apns_id)
    assert journey is not None
    return [s["stage"] for s in journey.stages]


@pytest.fixture
def phone(state: SimState, device_key: rsa.RSAPrivateKey) -> Phone:
    return Phone(state, device_key)


# -- Connect (§1.5, §1.7) ------------------------------------------------------------------------------


def test_a_valid_proof_connects_and_the_ack_carries_the_base_token(state: SimState, phone: Phone) -> None:
    ack = phone.connect()
    device = state.registry.get_device(phone.device_id)
    assert device is not None and ack.base_token == bytes.fromhex(device.base_token)
    assert (ack.max_message_size, ack.server_time_ms) == (MAX_MESSAGE_SIZE, state.clock.millis())
    assert phone.session.device_id == phone.device_id and phone.session.closing is None
    assert phone.host.claims == [(phone.device_id, "sandbox")]
    assert state.delivery.is_online(phone.device_id, "sandbox")


@pytest.mark.parametrize(("server_name", "environment"), [
    ("12-courier.sandbox.push.apple.com", "sandbox"), ("courier.push.apple.com", "production")])
def test_the_environment_is_the_courier_name_the_phone_asked_for(state: SimState, device_key: rsa.RSAPrivateKey,
                                                                 server_name: str, environment: str) -> None:
    """§1.1: one listener, two environments, told apart by the TLS server name."""
    phone = Phone(state, device_key, server_name=server_name)
    phone.connect()
    assert state.delivery.is_online(phone.device_id, environment)


@pytest.mark.parametrize("server_name", [None, "api.push.apple.com"])
def test_no_courier_server_name_is_refused_before_any_frame(state: SimState, device_key: rsa.RSAPrivateKey,
                                                            server_name: str | None) -> None:
    phone = Phone(state, device_key, server_name=server_name)
    (ack,) = phone.received()
    assert isinstance(ack, courier.ConnectAck) and ack.status == courier.STATUS_REFUSED
    assert "server name" in (ack.reason or "")
    assert phone.session.closing is not None and phone.session.closing.cause is CloseCause.REFUSED
    assert phone.send(phone.connect_frame()) == []  # closing: nothing more is read


def _refusal(phone: Phone, connect: courier.Connect) -> str:
    (ack,) = phone.send(connect)
    assert isinstance(ack, courier.ConnectAck) and ack.status == courier.STATUS_REFUSED
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.REFUSED and closing.reason == ack.reason
    assert phone.host.claims == [] and not phone.state.delivery.is_online(phone.device_id, "sandbox")
    return ack.reason


def test_a_proof_signed_with_another_key_is_refused(phone: Phone) -> None:
    thief = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert "signature does not match" in _refusal(phone, phone.connect_frame(key=thief))


def test_a_stale_nonce_is_refused(phone: Phone) -> None:
    """The nonce carries the phone's clock (§1.5): ten minutes off is not 'just now'."""
    assert "check the phone's clock" in _refusal(phone, phone.connect_frame(now_ms=WALL_MS - 10 * 60 * 1000))


def test_a_certificate_from_another_ca_is_refused(state: SimState, phone: Phone) -> None:
    rogue = pki.create_authority(state.clock.now())
    cert = pki.issue_device_certificate(rogue, _csr(phone.key, phone.device_id), now=state.clock.now())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert "not issued by" in _refusal(phone, phone.connect_frame(cert_der=der))


def test_a_certificate_that_is_not_der_is_refused(phone: Phone) -> None:
    assert "not a DER X.509" in _refusal(phone, phone.connect_frame(cert_der=b"not a certificate"))


def test_a_device_that_is_not_activated_here_is_refused(state: SimState, phone: Phone) -> None:
    stranger = str(uuid.uuid4()).upper()
    cert = pki.issue_device_certificate(state.authority, _csr(phone.key, stranger), now=state.clock.now())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert "not activated" in _refusal(phone, phone.connect_frame(cert_der=der))


def test_a_retired_base_token_replaces_the_tokens_and_the_ack_carries_a_new_one(state: SimState, phone: Phone) -> None:
    """A restore or erase ([sim] Connect item 0x31, docs/device-side.md §6 rule 29)."""
    phone.connect()
    token = phone.token()
    phone.session.connection_lost()
    old = state.registry.get_device(phone.device_id)
    assert old is not None
    phone.reconnect()
    ack = phone.connect(retired_base_token=bytes.fromhex(old.base_token))
    assert ack.base_token is not None and ack.base_token.hex() != old.base_token
    assert state.registry.get_token(token).state != ACTIVE  # type: ignore[union-attr]


# -- filters, tokens, keep-alives (§1.4, §1.7, §1.9) ---------------------------------------------------


def test_keep_alive_is_answered(phone: Phone) -> None:
    phone.connect()
    assert phone.send(courier.KeepAlive()) == [courier.KeepAliveAck()]


def test_the_same_topic_gets_the_same_token_and_voip_its_own(state: SimState, phone: Phone) -> None:
    phone.connect()
    token = phone.token()
    assert phone.token() == token
    record = state.registry.get_token(token)
    assert record is not None and (record.device_id, record.bundle_id, record.environment) == (
        phone.device_id, BUNDLE, "sandbox")
    voip = BUNDLE + ".voip"
    (ack,) = phone.send(courier.ScopedTokenRequest(topic=courier.topic_hash(voip), bundle_id=voip, push_type="voip"))
    assert isinstance(ack, courier.ScopedTokenAck) and ack.status == courier.STATUS_OK
    assert ack.token is not None and ack.token.hex() != token and ack.topic == courier.topic_hash(voip)


@pytest.mark.parametrize(("request_", "reason"), [
    (courier.ScopedTokenRequest(topic=courier.topic_hash("com.other"), bundle_id=BUNDLE), "not SHA-1"),
    (courier.ScopedTokenRequest(topic=courier.topic_hash(BUNDLE), bundle_id=BUNDLE, push_type="voip"), "VoIP token"),
    (courier.ScopedTokenRequest(topic=courier.topic_hash(BUNDLE), bundle_id=BUNDLE, push_type="fileprovider"),
     "no tokens for push type"),
])
def test_a_token_request_that_cannot_be_answered_is_refused_not_fatal(
        phone: Phone, request_: courier.ScopedTokenRequest, reason: str) -> None:
    phone.connect()
    (ack,) = phone.send(request_)
    assert isinstance(ack, courier.ScopedTokenAck) and ack.status == courier.STATUS_REFUSED and ack.token is None
    assert reason in (ack.reason or "") and phone.session.closing is None


def test_a_topic_leaving_the_filter_marks_its_token_uninstalled(state: SimState, phone: Phone) -> None:
    """§1.10: a deleted app's topic vanishes from the filter; its token is marked, its app report forgotten."""
    phone.connect()
    kept, gone = phone.token("com.example.kept"), phone.token()
    phone.send(courier.AppStatus(bundle_id=BUNDLE, environment="sandbox", permission="authorized", state="background"))
    assert state.app_reports.get(phone.device_id, BUNDLE, "sandbox") is not None
    assert phone.send(courier.Filter(enabled=(courier.topic_hash("com.example.kept"),))) == []
    assert phone.session.topics == {courier.topic_hash("com.example.kept")}
    assert state.registry.get_token(gone).state == UNINSTALLED  # type: ignore[union-attr]
    assert state.registry.get_token(kept).state == ACTIVE  # type: ignore[union-attr]
    assert state.app_reports.get(phone.device_id, BUNDLE, "sandbox") is None


# -- pushes, acks, reports (§1.10) ----------------------------------------------------------------------


def _push(phone: Phone, token: str) -> tuple[str, courier.Push]:
    apns_id = submit(phone.state, token)
    assert phone.host.wakes >= 1  # queued outside a read: the host was told
    (push,) = phone.received()
    assert isinstance(push, courier.Push)
    return apns_id, push


def test_a_push_is_delivered_then_acknowledged(state: SimState, phone: Phone) -> None:
    phone.connect()
    token = phone.token()
    apns_id, push = _push(phone, token)
    assert (push.token.hex(), push.topic, push.apns_id) == (token, courier.topic_hash(BUNDLE), apns_id.lower())
    assert json.loads(push.payload) == ALERT and push.message_id == 1 and not push.from_storage
    assert stages(state, apns_id) == ["accepted", "delivered"]
    assert phone.send(courier.PushAck(message_id=push.message_id, token=push.token)) == []
    assert stages(state, apns_id) == ["accepted", "delivered", "acknowledged"]
    phone.session.connection_lost()
    assert stages(state, apns_id)[-1] == "acknowledged"  # nothing left in flight to store


def test_an_ack_with_an_error_marks_the_token_uninstalled(state: SimState, phone: Phone) -> None:
    """§6 rule 13: a push for a deleted app is refused; APNs marks the token (unregister delay 0)."""
    phone.connect()
    token = phone.token()
    apns_id, push = _push(phone, token)
    phone.send(courier.PushAck(message_id=push.message_id, status=courier.ACK_APP_NOT_INSTALLED))
    assert stages(state, apns_id)[-1] == journeys.REFUSED
    assert state.registry.get_token(token).state == UNINSTALLED  # type: ignore[union-attr]
    assert phone.send(courier.SimReport(apns_id=push.apns_id or "", stage="presented")) == []
    assert stages(state, apns_id)[-1] == journeys.REFUSED  # refused pushes are not reported on


def test_an_ack_for_an_unknown_message_id_is_ignored(phone: Phone) -> None:
    phone.connect()
    assert phone.send(courier.PushAck(message_id=99)) == [] and phone.session.closing is None


def test_a_report_with_two_stages_lands_in_the_journey(state: SimState, phone: Phone) -> None:
    phone.connect()
    apns_id, push = _push(phone, phone.token())
    assert push.apns_id is not None
    phone.send(courier.PushAck(message_id=push.message_id),
               courier.SimReport(apns_id=push.apns_id, stage="handed_to_app", detail={"bundle_id": BUNDLE},
                                 later=(("presented", {"badge": 1, "stage": "forged"}),)))
    assert stages(state, apns_id) == ["accepted", "delivered", "acknowledged", "handed_to_app", "presented"]
    journey = state.journeys.get(apns_id)
    assert journey is not None and journey.stages[-1]["badge"] == 1
    phone.send(courier.SimReport(apns_id=push.apns_id, stage="presented"))  # final: no longer reportable
    assert stages(state, apns_id).count("presented") == 1


def test_a_report_on_a_push_never_sent_is_ignored(phone: Phone) -> None:
    phone.connect()
    assert phone.send(courier.SimReport(apns_id=str(uuid.uuid4()), stage="presented")) == []
    assert phone.session.closing is None


def test_app_status_is_kept_for_the_dashboard(state: SimState, phone: Phone) -> None:
    phone.connect()
    phone.send(courier.AppStatus(bundle_id=BUNDLE, environment="sandbox", permission="denied", options=("badge",),
                                 badge=3, state="foreground"))
    reported = state.app_reports.get(phone.device_id, BUNDLE, "sandbox")
    assert reported is not None and (reported.permission, reported.options, reported.badge, reported.state,
                                     reported.at) == ("denied", ("badge",), 3, "foreground", state.clock.time())


def test_stored_pushes_go_out_after_the_connect_ack_flagged_as_stored(state: SimState, phone: Phone) -> None:
    """§1.10 and §1.4 item 7: 0x01 from storage, 0x02 on the last one."""
    token = state.registry.app_token(phone.device_id, BUNDLE, "sandbox", state.clock.now()).token
    other = state.registry.app_token(phone.device_id, "com.example.other", "sandbox", state.clock.now()).token
    first = submit(state, token)
    state.clock.advance(1)  # stored oldest first
    second = submit(state, other)
    assert stages(state, first)[-1] == journeys.STORED
    answer = phone.send(phone.connect_frame())
    assert [type(m) for m in answer] == [courier.ConnectAck, courier.Push, courier.Push]
    pushes = [m for m in answer if isinstance(m, courier.Push)]
    assert [(p.apns_id, p.storage_flags) for p in pushes] == [(first.lower(), 0x01), (second.lower(), 0x03)]
    assert phone.host.wakes == 0  # written in the read that carried the Connect


def test_disconnect_hands_unacknowledged_pushes_back_for_storage(state: SimState, phone: Phone) -> None:
    phone.connect()
    apns_id, _ = _push(phone, phone.token())
    phone.session.connection_lost()
    assert stages(state, apns_id)[-1] == journeys.STORED
    assert not state.delivery.is_online(phone.device_id, "sandbox") and phone.session.device_id is None
    assert [m["apns_id"] for m in state.registry.take_stored(phone.device_id, "sandbox")] == [apns_id]


# -- ends: protocol errors, gateway closes, idleness, faults -----------------------------------------------


def test_garbage_closes_cleanly_as_a_protocol_error(phone: Phone) -> None:
    assert phone.send(courier.KeepAlive()) == []  # before a Connect: not allowed either
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.PROTOCOL_ERROR
    assert "before a successful Connect" in closing.reason
    other = Phone(phone.state, phone.key)
    other.session.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    closing = other.session.closing
    assert closing is not None and closing.cause is CloseCause.PROTOCOL_ERROR
    assert "not a courier command" in closing.reason
    assert other.received() == []


def test_a_malformed_frame_after_connect_closes_and_stores_what_was_in_flight(state: SimState, phone: Phone) -> None:
    phone.connect()
    apns_id, _ = _push(phone, phone.token())
    bad_ack = bytes([courier.Command.PUSH_ACK]) + (3).to_bytes(4, "big") + b"\x04\x00\x04"  # item runs past the end
    phone.session.receive_data(bad_ack + courier.KeepAlive().encode())
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.PROTOCOL_ERROR
    assert phone.received() == []  # the keep-alive in the same read is not answered
    assert stages(state, apns_id)[-1] == journeys.STORED and phone.host.current == set()


@pytest.mark.parametrize("message", [
    courier.SimReport(apns_id=str(uuid.uuid4()), stage="exploded"),
    courier.AppStatus(bundle_id=BUNDLE, environment="production", permission="authorized", state="background"),
    courier.KeepAliveAck(),
])
def test_a_frame_a_phone_may_not_send_is_a_protocol_error(phone: Phone, message: courier.Message) -> None:
    phone.connect()
    phone.session.receive_message(message)
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.PROTOCOL_ERROR


def test_a_second_connect_is_a_protocol_error(phone: Phone) -> None:
    phone.connect()
    assert phone.send(phone.connect_frame()) == []
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.PROTOCOL_ERROR and "second Connect" in closing.reason


def test_a_bug_while_handling_a_frame_closes_only_this_session(state: SimState, phone: Phone,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    phone.connect()
    _, push = _push(phone, phone.token())

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(state.delivery, "acknowledged", broken)
    phone.send(courier.PushAck(message_id=push.message_id))  # does not raise
    closing = phone.session.closing
    assert closing is not None and (closing.cause, closing.reason) == (CloseCause.INTERNAL_ERROR, "internal error")


def test_the_gateway_closing_detaches_only_the_current_connection(state: SimState, phone: Phone) -> None:
    phone.connect()
    phone.host.current.clear()  # the same phone connected again elsewhere: this one is no longer current
    phone.session.close("the same phone connected again")
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.CLOSED
    assert state.delivery.is_online(phone.device_id, "sandbox")  # the newer connection keeps delivery


def test_silence_longer_than_the_idle_timeout_closes(state: SimState, phone: Phone) -> None:
    """§1.9: the gateway drops a phone that misses about two keep-alive intervals."""
    phone.connect()
    timeout = phone.session.idle_timeout
    assert phone.session.check_idle(timeout - 30) == pytest.approx(30)
    assert phone.session.closing is None
    assert phone.session.check_idle(timeout) is None
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.CLOSED and "no keep-alive" in closing.reason
    assert not state.delivery.is_online(phone.device_id, "sandbox")


def test_a_phone_offline_fault_closes_before_the_connect_ack(state: SimState, phone: Phone) -> None:
    """An outage, not a refusal: no ConnectAck at all, so the phone does not activate again."""
    state.faults.add(FaultRule(kind="phone_offline", device_id=phone.device_id))
    assert phone.send(phone.connect_frame()) == []
    closing = phone.session.closing
    assert closing is not None and closing.cause is CloseCause.OFFLINE
    assert phone.host.claims == [] and not state.delivery.is_online(phone.device_id, "sandbox")


def test_a_drop_acks_fault_keeps_the_push_in_flight(state: SimState, phone: Phone) -> None:
    phone.connect()
    token = phone.token()
    state.faults.add(FaultRule(kind="drop_acks", token=token, count=1))
    apns_id, push = _push(phone, token)
    phone.send(courier.PushAck(message_id=push.message_id))
    assert stages(state, apns_id) == ["accepted", "delivered", FAULT_STAGE]
    phone.session.connection_lost()
    assert stages(state, apns_id)[-1] == journeys.STORED  # still in flight when the connection went

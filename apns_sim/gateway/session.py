"""One phone's courier session, sans-IO: bytes in, decisions, frames out (stage 2).

Every decision the gateway makes about a phone connection lives here, with no event loop, TLS or socket
(docs/style.md habit 4), so a unit test drives it with frames a phone would build with :mod:`apns_sim.courier`:
who may connect (docs/device-side.md §1.5), the topic filter (§1.4, §1.10), scoped tokens (§1.7), pushes and
their acks (§1.10), keep-alives (§1.9), and our own SimReport and AppStatus frames. h2's shape: the adapter
feeds :meth:`CourierSession.receive_data`, writes :meth:`CourierSession.data_to_send`, and closes the
transport once :attr:`CourierSession.closing` says why (a :class:`CloseCause`). Effects are direct calls on
the injected :class:`~apns_sim.state.SimState`; the one-connection-per-phone table belongs to the gateway
and is reached through a :class:`SessionHost`, which also hears when delivery queued a push outside a read.

Time: the Connect nonce carries the phone's clock, which is real time even when the simulator's clock is
frozen or moved, so freshness is judged against the wall clock the adapter passes in (``wall_ms``);
everything else reads ``state.clock``.

[sim] A Connect naming a retired base token (item 0x31) is a restore or erase (docs/device-side.md §3, §6
rule 29): the tokens are replaced and the ConnectAck carries a new base token. AppStatus (permission, badge,
app state) is kept in ``SimState.app_reports`` for the dashboard only, and forgotten when the app leaves the
filter or the tokens are replaced. Faults (read only while ``phone_armed``): ``phone_offline`` closes before
the ConnectAck (an outage, not a refusal: a refused phone would activate again); ``drop_acks`` ignores an
ack, so the push stays in flight and is stored again when the connection drops.

Hot path: a push is one frame encoded and one wake-up of the host; an ack or a report is one dict lookup.
Per connection there are a few slots and nothing else: ten thousand phones share one process. Bare section
numbers (§1.x) below are docs/device-side.md's.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from apns_sim import courier, limits, pki
from apns_sim.courier import ConnectAck, CourierProtocolError, KeepAliveAck, Push, ScopedTokenAck
from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.faults.plan import FAULT_STAGE, FaultRule
from apns_sim.model import journeys
from apns_sim.model.registry import ACTIVE, VOIP, VOIP_SUFFIX
from apns_sim.state import SimState

# The gateway's lines keep the logger they had before the session was carved out of the listener.
log = logging.getLogger("apns_sim.gateway")

PROOF_MAX_SKEW_MS = 5 * 60 * 1000  # how far the Connect nonce's clock may be from ours (§1.5)
MAX_MESSAGE_SIZE = 5120  # ConnectAck item 4: Apple's largest payload (VoIP), docs/device-side.md §1.4
_RECENT_LIMIT = 128  # apns-ids a phone may still report on, per connection
_FINAL_STAGES = frozenset({journeys.PRESENTED, journeys.NOT_PRESENTED})
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_SERVER_NAME = re.compile(r"^(?:\d+-)?courier\.(sandbox\.)?push\.apple\.com$", re.IGNORECASE)


def environment_for_server_name(server_name: str | None) -> str | None:
    """"sandbox" / "production" for a courier host name (TLS SNI, docs/device-side.md §1.1), else None.

    ``courier.sandbox.push.apple.com`` or ``N-courier.sandbox.push.apple.com`` is the sandbox,
    ``courier.push.apple.com`` or ``N-courier.push.apple.com`` production: one listener serves both.
    """
    if not server_name:
        return None
    match = _SERVER_NAME.match(server_name)
    if match is None:
        return None
    return "sandbox" if match.group(1) else "production"


def offline_fault(state: SimState, device_id: str, environment: str) -> FaultRule | None:
    """The phone_offline rule that keeps this phone off the network in ``environment``, if any."""
    apps = [(t.token, t.bundle_id) for t in state.registry.list_tokens(device_id) if t.environment == environment]
    return state.faults.offline(device_id=device_id, environment=environment, apps=apps)


@functools.lru_cache(maxsize=1024)
def _topic_hash(topic: str) -> bytes:
    """courier.topic_hash, remembered: every push to a topic carries the same SHA-1 (§1.6)."""
    return courier.topic_hash(topic)


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class CloseCause(enum.Enum):
    """Why a session ended; the adapter writes what is queued, then closes the transport."""

    REFUSED = "refused"  # a ConnectAck with status 2 and a reason is queued (§1.4 0x08, §1.5 step 4)
    OFFLINE = "offline"  # a phone_offline fault: no ConnectAck, to the phone the network just failed
    PROTOCOL_ERROR = "protocol_error"  # the phone sent something that is not the courier protocol
    INTERNAL_ERROR = "internal_error"  # a bug of ours while handling a frame: this connection ends only
    CLOSED = "closed"  # the gateway ended it (the same phone connected again, a fault, shutdown, silence)


@dataclass(frozen=True, slots=True)
class Closing:
    cause: CloseCause
    reason: str


class SessionHost(Protocol):
    """The connection around a session: the gateway's one connection per phone and environment (§1.1), and
    a wake-up for frames queued outside :meth:`CourierSession.receive_data` (a push from delivery)."""

    def claim(self, device_id: str, environment: str) -> None: ...  # now the phone's; an older one closes

    def release(self, device_id: str, environment: str) -> bool: ...  # leaving: was it still the phone's?

    def output_ready(self) -> None: ...  # frames are waiting in data_to_send()


class CourierSession:
    """The courier protocol of one phone connection: Connect, then filters, token requests, pushes, acks."""

    __slots__ = ("_cert_serial", "_decoder", "_device_id", "_flushing", "_host", "_in_flight", "_next_id", "_out",
                 "_preauth_bytes", "_recent", "_state", "_topics", "_wall_ms", "closing", "environment")

    def __init__(self, state: SimState, host: SessionHost, *, server_name: str | None,
                 wall_ms: Callable[[], int]) -> None:
        self._state = state
        self._host = host
        self._wall_ms = wall_ms
        self._decoder = courier.Decoder()
        self._device_id: str | None = None
        self._cert_serial: int | None = None  # the device certificate the phone connected with
        self._topics: frozenset[bytes] = frozenset()
        self._in_flight: dict[int, str] = {}  # message id -> apns-id, until the phone acks
        # apns-id as the phone reports it (canonical lower case) -> the journey's apns-id, for SimReports
        self._recent: dict[str, str] | None = None
        self._flushing: list[PushMessage] | None = None
        self._next_id = 0
        self._preauth_bytes = 0  # bytes received before a Connect was accepted (docs/limits.md §2)
        self._out: list[bytes] | None = None
        self.closing: Closing | None = None
        self.environment = environment_for_server_name(server_name)
        if self.environment is None:
            why = (f"TLS server name {server_name!r} is not a courier host" if server_name else
                   "no TLS server name (SNI)")
            self._refuse(f"{why}: connect with server_hostname courier.sandbox.push.apple.com (sandbox) or "
                         "courier.push.apple.com (production)")

    # -- the adapter's interface ---------------------------------------------------------------------------

    @property
    def device_id(self) -> str | None:
        """The phone, once its Connect succeeded; None before, and again once the session detached."""
        return self._device_id

    @property
    def certificate_serial(self) -> int | None:
        """The serial of the device certificate the phone proved in its Connect (None before)."""
        return self._cert_serial

    @property
    def topics(self) -> frozenset[bytes]:
        """The topic hashes of the phone's latest Filter (§1.6)."""
        return self._topics

    @property
    def idle_timeout(self) -> float:
        """Seconds of silence after which the phone is dropped (§1.9: about two keep-alive intervals)."""
        return self._state.config.courier_idle_timeout

    def receive_data(self, data: bytes) -> None:
        """Bytes from the phone. Answers are queued for :meth:`data_to_send`; nothing raises: a frame that is
        not the courier protocol, or a bug of ours, sets :attr:`closing`. Ignored once closing."""
        if self.closing is not None:
            return
        if self._device_id is None:
            # Until a Connect proves who is talking, a stranger gets room for a Connect and little more: it
            # must not keep the connection (and a growing frame buffer) by sending unmodelled frames forever.
            self._preauth_bytes += len(data)
            if self._preauth_bytes > limits.COURIER_PREAUTH_BYTES:
                self._close(CloseCause.PROTOCOL_ERROR, f"more than {limits.COURIER_PREAUTH_BYTES} bytes before a "
                                                       "valid Connect (docs/limits.md §2)")
                return
        try:
            messages = self._decoder.feed(data)
        except CourierProtocolError as exc:
            self._close(CloseCause.PROTOCOL_ERROR, f"protocol error from the phone: {exc}")
            return
        except Exception:  # a codec bug must not escape into the event loop either
            log.exception("courier: unexpected error decoding a frame; closing the connection")
            self._close(CloseCause.INTERNAL_ERROR, "internal error")
            return
        self._receive(messages)
        if self.closing is None and len(self._in_flight) > limits.COURIER_MAX_IN_FLIGHT:
            # Checked here, not when a push is written: delivery is mid-send then, and must not see a detach.
            self._close(CloseCause.PROTOCOL_ERROR, f"more than {limits.COURIER_MAX_IN_FLIGHT} pushes unacknowledged "
                                                   "(docs/limits.md §2)")

    def receive_message(self, message: courier.Message) -> None:
        """One message already decoded, as :meth:`receive_data` handles each of its frames."""
        self._receive((message,))

    def data_to_send(self) -> bytes:
        """The frames queued since the last call, in order (b"" if none)."""
        out, self._out = self._out, None
        if out is None:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def close(self, why: str) -> None:
        """The gateway ends the session: delivery takes back what was in flight at once (stored again)."""
        if self.closing is None:
            self._close(CloseCause.CLOSED, why)

    def check_idle(self, silent_for: float) -> float | None:
        """The idle timer fired after ``silent_for`` seconds without a byte from the phone: seconds until
        the next check, or None when that is too long and the session closed (§1.9)."""
        timeout = self._state.config.courier_idle_timeout
        if silent_for < timeout:
            return timeout - silent_for
        self.close(f"silent for {timeout:g} s (no keep-alive)")
        return None

    def connection_lost(self) -> None:
        """The transport is gone (the phone left, or our close completed): detach once."""
        self._detach()

    # -- messages ------------------------------------------------------------------------------------------

    def _receive(self, messages: Iterable[courier.Message]) -> None:
        for message in messages:
            if self.closing is not None:
                return  # the rest of this read is never processed: the connection is ending
            try:
                self._handle(message)
            except CourierProtocolError as exc:
                self._close(CloseCause.PROTOCOL_ERROR, f"protocol error from the phone: {exc}")
            except Exception:
                log.exception("courier: unexpected error handling %s; closing the connection", type(message).__name__)
                self._close(CloseCause.INTERNAL_ERROR, "internal error")

    def _handle(self, message: courier.Message) -> None:
        if isinstance(message, courier.Connect):
            self._on_connect(message)
            return
        if isinstance(message, courier.Unknown):
            return  # seen in real traffic, no meaning we model (§1.3)
        if self._device_id is None:
            raise CourierProtocolError(f"{type(message).__name__} before a successful Connect")
        if isinstance(message, courier.KeepAlive):
            self._write(KeepAliveAck().encode())
        elif isinstance(message, courier.Filter):
            self._on_filter(message)
        elif isinstance(message, courier.ScopedTokenRequest):
            self._on_scoped_token(message)
        elif isinstance(message, courier.PushAck):
            self._on_push_ack(message)
        elif isinstance(message, courier.SimReport):
            self._on_report(message)
        elif isinstance(message, courier.AppStatus):
            self._on_app_status(message)
        else:
            raise CourierProtocolError(f"{type(message).__name__} is not something a phone sends")

    def _on_connect(self, message: courier.Connect) -> None:
        """§1.5: a device certificate from our device CA, a fresh nonce signed with its key, an activated
        device; then ConnectAck with the base token (§1.7) and the stored pushes (§1.10)."""
        if self._device_id is not None:
            raise CourierProtocolError("a second Connect on one connection")
        state = self._state
        now = state.clock.now()
        try:
            cert = x509.load_der_x509_certificate(message.certificate)
        except ValueError:
            self._refuse("the device certificate (Connect item 12) is not a DER X.509 certificate")
            return
        try:
            pki.verify_issued_by(cert, state.authority.device_ca_cert, now)
            courier.verify_connect_proof(cert, message.nonce, message.signature, self._wall_ms(), PROOF_MAX_SKEW_MS)
        except (pki.PkiError, courier.ConnectProofError) as exc:
            self._refuse(f"device authentication failed: {exc}")
            return
        device_id = _common_name(cert)
        device = None if device_id is None else state.registry.get_device(device_id)
        if device_id is None or device is None:
            self._refuse(f"device {device_id} is not activated here; activate it at "
                         "/deviceservices/deviceActivation on the admin server")
            return
        if not device.accepts_certificate(cert.serial_number):
            # Only the latest certificate of a device is valid: activating again or erasing revoked this one.
            self._refuse(f"device certificate {cert.serial_number:x} of {device_id} is revoked (the device was "
                         "activated again or erased since); activate again")
            return
        if device.cert_serial is None:  # recorded before key binding existed: the key it just proved is its own
            state.registry.adopt_device_key(device_id, pki.public_key_sha256(cert.public_key()), cert.serial_number)
        self._cert_serial = cert.serial_number
        env = self.environment
        assert env is not None
        if state.faults.phone_armed and (fault := offline_fault(state, device_id, env)) is not None:
            log.info("courier: fault %s keeps phone %s offline: closing its connection", fault.id, device_id)
            self.closing = Closing(CloseCause.OFFLINE, f"fault {fault.id}: phone_offline")
            return
        if message.retired_base_token is not None:
            changed = state.registry.change_base_token(device_id, message.retired_base_token.hex(), now)
            if changed is not None:
                log.info("courier: phone %s was restored or erased: its tokens are replaced, new base token",
                         device_id)
                device = changed
                state.app_reports.forget_device(device_id)  # the phone reports afresh after the ConnectAck
        self._device_id = device_id
        self._write(ConnectAck(status=courier.STATUS_OK, base_token=bytes.fromhex(device.base_token),
                               max_message_size=MAX_MESSAGE_SIZE, server_time_ms=state.clock.millis()).encode())
        log.info("courier: phone %s (%s) connected to %s", device_id, device.name, env)
        self._host.claim(device_id, env)
        # Stored pushes are flushed inside attach(); hold them to set the storage flags (§1.4 item 7).
        self._flushing = []
        try:
            state.delivery.attach(device_id, env, self._send)
        finally:
            stored, self._flushing = self._flushing, None
        for i, push in enumerate(stored):
            self._write_push(push, 0x01 | (0x02 if i == len(stored) - 1 else 0))

    def _on_filter(self, message: courier.Filter) -> None:
        """Remember the topics; an app with a live token whose topic is gone was deleted.

        Apple marks a token only after the phone refuses a push for it (docs/device-side.md §1.10); the filter
        is our earlier trigger, so ``device-sim uninstall`` works even if the phone stays offline afterwards.
        The 410 still waits for ``delivery.unregister_delay``.
        """
        self._topics = frozenset(message.enabled)
        state, device_id, env = self._state, self._device_id, self.environment
        assert device_id is not None
        now = state.clock.now()
        later = now + timedelta(seconds=state.config.delivery.unregister_delay)
        for token in state.registry.list_tokens(device_id):
            if token.environment != env or token.state != ACTIVE:
                continue
            # token.topic: a PushKit token goes with <bundle>.voip, which leaves the filter on uninstall too
            if courier.topic_hash(token.topic) not in self._topics and state.registry.mark_uninstalled(
                    token.token, now, later):
                log.info("courier: %s dropped topic %s from its filter: token %s… marked uninstalled",
                         device_id, token.topic, token.token[:12])
                if token.topic == token.bundle_id:  # the app itself is gone, not only its PushKit topic
                    state.app_reports.forget(device_id, token.bundle_id, token.environment)

    def _on_scoped_token(self, message: courier.ScopedTokenRequest) -> None:
        """Mint the app's token for a topic (§1.7); push type "voip" is its PushKit token for
        ``<bundle>.voip``, a separate token (docs/device-side.md §2.7, §6 rule 28)."""
        state, device_id, env = self._state, self._device_id, self.environment
        assert device_id is not None and env is not None
        topic = message.bundle_id
        refusal = None
        if courier.topic_hash(topic) != message.topic or "*" in topic:
            refusal = f"topic hash is not SHA-1 of {topic!r}"
        elif message.push_type not in (None, VOIP):
            refusal = f"no tokens for push type {message.push_type!r} (only voip, or none for the APNs token)"
        elif message.push_type == VOIP and (not topic.endswith(VOIP_SUFFIX) or topic == VOIP_SUFFIX):
            refusal = f"a VoIP token is for the topic <bundle id>{VOIP_SUFFIX}, not {topic!r}"
        if refusal is not None:
            self._write(ScopedTokenAck(status=courier.STATUS_REFUSED, topic=message.topic, reason=refusal).encode())
            return
        if message.push_type == VOIP:
            record = state.registry.app_token(device_id, topic[: -len(VOIP_SUFFIX)], env, state.clock.now(), VOIP)
        else:
            record = state.registry.app_token(device_id, topic, env, state.clock.now())
        self._write(ScopedTokenAck(status=courier.STATUS_OK, topic=message.topic,
                                   token=bytes.fromhex(record.token)).encode())

    def _on_push_ack(self, message: courier.PushAck) -> None:
        """§1.10: status 0 takes the push out of flight; non-zero means the app is gone (§6 rule 13)."""
        apns_id = self._in_flight.pop(message.message_id, None)
        if apns_id is None:
            log.debug("courier: ack for unknown message id %d from %s", message.message_id, self._device_id)
            return
        if self._state.faults.phone_armed and self._ack_dropped(apns_id, message):
            return
        ok = message.status == courier.ACK_OK
        if not ok:
            self._forget(apns_id)
        assert self._device_id is not None and self.environment is not None
        self._state.delivery.acknowledged(self._device_id, self.environment, apns_id, ok=ok)

    def _ack_dropped(self, apns_id: str, message: courier.PushAck) -> bool:
        """A drop_acks fault: the ack is ignored and delivery keeps the notification in flight."""
        state = self._state
        journey = state.journeys.get(apns_id)
        token = message.token.hex() if message.token else (journey.token if journey else None)
        rule = state.faults.decide_ack(token=token, topic=journey.topic if journey else None, apns_id=apns_id,
                                       environment=self.environment, device_id=self._device_id)
        if rule is None:
            return False
        state.journeys.add(apns_id, FAULT_STAGE, **rule.detail())
        return True

    def _on_report(self, message: courier.SimReport) -> None:
        """[sim] What the phone did with a push we sent it, added to the journey (stage 3)."""
        stages = message.stages
        for stage, _ in stages:
            if stage not in courier.SIM_STAGES:
                raise CourierProtocolError(f"SIM_REPORT stage {stage!r} is not one of {courier.SIM_STAGES}")
        key = message.apns_id  # canonical lower case, as the codec decodes every UUID
        apns_id = None if self._recent is None else self._recent.get(key)
        if apns_id is None:
            log.debug("courier: %s reported on %s, which it was not sent", self._device_id, message.apns_id)
            return
        delivery = self._state.delivery
        for stage, detail in stages:
            if stage in _FINAL_STAGES:
                self._forget(apns_id, key)
            delivery.report(apns_id, stage, detail)  # Delivery.report drops the keys the journey sets itself

    def _on_app_status(self, message: courier.AppStatus) -> None:
        """[sim] Keep the app's latest permission, badge and state for the dashboard (nothing else reads it)."""
        if message.environment != self.environment:
            raise CourierProtocolError(f"APP_STATUS for {message.environment} on a {self.environment} connection")
        assert self._device_id is not None
        self._state.app_reports.record(self._device_id, message, self._state.clock.time())

    # -- pushes out ----------------------------------------------------------------------------------------

    def _send(self, message: PushMessage) -> None:
        """Delivery's ``send`` for this phone and environment."""
        if self._flushing is not None:
            self._flushing.append(message)
            return
        self._write_push(message, 0)
        self._host.output_ready()

    def _write_push(self, message: PushMessage, storage_flags: int) -> None:
        self._next_id = (self._next_id % 0xFFFFFFFF) + 1
        apns_id = message.apns_id
        key: str | None = apns_id.lower()
        if not _CANONICAL_UUID.match(apns_id):
            key = None  # not a UUID: the push goes without item 0x15 and the phone cannot report on it
        frame = Push(
            token=bytes.fromhex(message.token), topic=_topic_hash(message.topic), payload=message.payload,
            message_id=self._next_id,
            expiry=None if message.expiration is None else min(message.expiration, 0xFFFFFFFF),
            timestamp_ns=int(message.accepted_at * 1e9), storage_flags=storage_flags,
            apns_id=apns_id if key is not None else None, priority=message.priority,
            push_type=message.push_type, collapse_id=message.collapse_id,
        )
        self._in_flight[self._next_id] = apns_id
        if key is not None:
            recent = self._recent if self._recent is not None else {}
            if len(recent) >= _RECENT_LIMIT:
                del recent[next(iter(recent))]
            recent[key] = apns_id
            self._recent = recent
        self._write(frame.encode())

    # -- internals -----------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._out is None:
            self._out = [data]
        else:
            self._out.append(data)

    def _forget(self, apns_id: str, key: str | None = None) -> None:
        if self._recent is None:
            return
        if key is None:
            key = next((k for k, v in self._recent.items() if v == apns_id), None)
        if key is not None:
            self._recent.pop(key, None)
        if not self._recent:
            self._recent = None

    def _refuse(self, why: str) -> None:
        """ConnectAck status 2 with the reason, then close (§1.4 0x08); the phone activates again (§1.5)."""
        self._write(ConnectAck(status=courier.STATUS_REFUSED, reason=why).encode())
        self.closing = Closing(CloseCause.REFUSED, why)

    def _close(self, cause: CloseCause, why: str) -> None:
        """Close with a log line saying why; detach at once so delivery stores what was in flight."""
        log.info("courier: closing connection of %s (%s): %s", self._device_id or "unauthenticated phone",
                 self.environment or "no environment", why)
        self.closing = Closing(cause, why)
        self._detach()

    def _detach(self) -> None:
        device_id, env = self._device_id, self.environment
        if device_id is None or env is None:
            return
        self._device_id = None  # detach once
        self._in_flight.clear()
        self._recent = None
        if self._host.release(device_id, env):
            self._state.delivery.detach(device_id, env)
        log.info("courier: phone %s left %s", device_id, env)

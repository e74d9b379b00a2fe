"""The binary gateway and feedback service decisions, synchronous: one connection's bytes in, bytes out.

A binary notification is judged by the same rules as an HTTP/2 request (docs/legacy-binary.md §5): it is
turned into the request Apple's HTTP/2 interface would have received (path ``/3/device/<token>``, the
certificate's app as topic, priority and expiration from the frame) and handed to
:func:`apns_sim.push.validation.check_request`, so both doors agree on every token and App ID. An accepted
one begins its journey (``interface: "binary"``) and goes to the same delivery, and so to the same phones.
A refusal becomes one error-response packet and the end of the connection, with the status code the binary
interface had for that reason (:data:`STATUS_FOR_REASON`). An uninstalled app's token is the exception:
the binary interface said nothing about it, the feedback service did (§4), so it is answered with silence.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.legacy import frames
from apns_sim.legacy.feedback import FeedbackLedger, encode_tuples
from apns_sim.legacy.frames import FrameDecoder, FrameError, Notification, Status
from apns_sim.model import journeys
from apns_sim.model.journeys import Journey
from apns_sim.push.auth import CertificateIdentity, certificate_identity
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, Outcome, PushRequest, Rejection, parse_request
from apns_sim.push.validation import Policy, check_request
from apns_sim.state import SimState

INTERFACE = "binary"

# HTTP/2 reasons that have a status code of their own in the binary interface; any other refusal is
# "Processing error" (docs/legacy-binary.md §5).
STATUS_FOR_REASON: dict[Reason, Status] = {
    Reason.BAD_DEVICE_TOKEN: Status.INVALID_TOKEN,
    Reason.DEVICE_TOKEN_NOT_FOR_TOPIC: Status.INVALID_TOKEN,
    Reason.EXPIRED_TOKEN: Status.INVALID_TOKEN,
    Reason.MISSING_DEVICE_TOKEN: Status.MISSING_DEVICE_TOKEN,
    Reason.MISSING_TOPIC: Status.MISSING_TOPIC,
    Reason.TOPIC_DISALLOWED: Status.MISSING_TOPIC,
    Reason.BAD_TOPIC: Status.INVALID_TOPIC_SIZE,
    Reason.PAYLOAD_EMPTY: Status.MISSING_PAYLOAD,
    Reason.PAYLOAD_TOO_LARGE: Status.INVALID_PAYLOAD_SIZE,
}
SILENT_REASONS = frozenset({Reason.UNREGISTERED})


def status_for(reason: Reason) -> Status | None:
    """The binary status for an HTTP/2 refusal; None where the binary interface stayed silent."""
    if reason in SILENT_REASONS:
        return None
    return STATUS_FOR_REASON.get(reason, Status.PROCESSING_ERROR)


def _push_type(payload: bytes) -> str:
    """The binary interface had no push type: a payload that only wakes the app is a background push."""
    try:
        aps = json.loads(payload).get("aps", {})
    except (ValueError, AttributeError):
        return "alert"
    if isinstance(aps, dict) and aps.get("content-available") == 1 and not {"alert", "sound", "badge"} & set(aps):
        return "background"
    return "alert"


def as_request(note: Notification, topic: str) -> PushRequest:
    """The HTTP/2 request this notification stands for (docs/legacy-binary.md §5)."""
    headers = [(b":method", b"POST"), (b":scheme", b"https"), (b":path", f"/3/device/{note.token.hex()}".encode()),
               (b"apns-topic", topic.encode()), (b"apns-push-type", _push_type(note.payload).encode()),
               (b"apns-priority", str(note.priority).encode())]
    if note.expiry is not None:
        headers.append((b"apns-expiration", str(note.expiry).encode()))
    return parse_request(headers, note.payload)


def new_apns_id() -> str:
    """The binary interface has no apns-id; the journey still needs one."""
    return str(uuid.uuid4()).upper()


class GatewayService:
    """One environment's binary gateway: shared by its connections."""

    def __init__(self, state: SimState, environment: str) -> None:
        self.state = state
        self.environment = environment
        self.payload_limit = state.config.legacy_payload_limit
        self.policy = Policy(replaced_token=Reason.from_wire(state.config.replaced_token_reason))

    def connect(self, peer_cert_der: bytes | None) -> GatewayConnection:
        """A connection's core; refused (closed with nothing written) without a valid push certificate."""
        identity = self.identify(peer_cert_der)
        return GatewayConnection(self, identity)

    def identify(self, peer_cert_der: bytes | None) -> CertificateIdentity | None:
        if not peer_cert_der:
            return None
        state = self.state
        result = certificate_identity(peer_cert_der, state.registry, self.environment, state.clock.time())
        return None if isinstance(result, Rejection) else result

    def decide(self, note: Notification, identity: CertificateIdentity) -> Status | None:
        """Judge one notification, record its journey, hand it to delivery; the status to answer, or None."""
        state = self.state
        now = state.clock.time()
        apns_id = new_apns_id()
        request = as_request(note, identity.bundle_id)
        outcome: Outcome = check_request(request, identity, state.registry, environment=self.environment, now=now,
                                         policy=self.policy)
        detail = {"command": note.command, "identifier": note.identifier}
        if isinstance(outcome, Accepted):
            self._admit(apns_id, outcome, now, detail)
            return None
        status = status_for(outcome.reason)
        self.reject(apns_id, note.token.hex(), identity.bundle_id, outcome, status, detail)
        return status

    def _admit(self, apns_id: str, outcome: Accepted, now: float, detail: dict[str, Any]) -> None:
        state = self.state
        state.journeys.begin(Journey(
            apns_id=apns_id, token=outcome.token, topic=outcome.topic, environment=self.environment, status=200,
            push_type=outcome.push_type, priority=outcome.priority, body=outcome.payload, interface=INTERFACE),
            journeys.ACCEPTED, **detail)
        state.delivery.submit(PushMessage(
            apns_id=apns_id, token=outcome.token, device_id=outcome.device_id, bundle_id=outcome.bundle_id,
            topic=outcome.topic, environment=self.environment, payload=outcome.payload,
            push_type=outcome.push_type, priority=outcome.priority, expiration=outcome.expiration,
            collapse_id=None, accepted_at=now))

    def reject(self, apns_id: str, token: str, topic: str, outcome: Rejection | FrameError, status: Status | None,
               detail: dict[str, Any]) -> None:
        """A refused notification's journey: the HTTP/2 reason it stands for, and the binary status answered."""
        if isinstance(outcome, Rejection):
            http_status, reason, timestamp = outcome.reason.status, outcome.reason.wire, outcome.timestamp
        else:
            http_status, reason, timestamp = 400, None, None
        if status is None:
            detail = {**detail, "answer": "none: the binary interface stayed silent; the feedback service reports "
                                          "the token"}
        else:
            detail = {**detail, "binary_status": int(status), "description": status.description}
        self.state.journeys.begin(Journey(
            apns_id=apns_id, token=token, topic=topic, environment=self.environment, status=http_status,
            reason=reason, timestamp=timestamp, interface=INTERFACE), journeys.REJECTED, **detail)


@dataclass
class GatewayConnection:
    """One binary-gateway connection, sans-IO: ``receive_data``, then write ``data_to_send()``; close once
    ``finished``. After the first refusal nothing more is read (docs/legacy-binary.md §3)."""

    service: GatewayService
    identity: CertificateIdentity | None

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(self.service.payload_limit)
        self._out = bytearray()
        self.finished = self.identity is None
        self.last_identifier = 0  # of the last notification accepted: what a Shutdown packet names
        self.accepted = 0

    @property
    def refused(self) -> bool:
        return self.identity is None

    def receive_data(self, data: bytes) -> None:
        identity = self.identity
        if self.finished or identity is None:
            return
        for item in self._decoder.receive_data(data):
            if isinstance(item, FrameError):
                self.service.reject(new_apns_id(), "", identity.bundle_id, item, item.status,
                                    {"identifier": item.identifier})
                self._fail(item.status, item.identifier, item.command)
                return
            status = self.service.decide(item, identity)
            if status is not None:
                self._fail(status, item.identifier, item.command)
                return
            self.accepted += 1
            self.last_identifier = item.identifier

    def crash(self) -> None:
        """Our own bug while processing: Apple's "Processing error", then close; the listener survives."""
        if not self.finished:
            self._fail(Status.PROCESSING_ERROR, 0)

    def shutdown(self) -> None:
        """The server is going away: status 10 naming the last notification accepted, then close."""
        if not self.finished:
            self._fail(Status.SHUTDOWN, self.last_identifier)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def truncated(self) -> int:
        """Bytes of an incomplete notification left when the peer stopped writing (never delivered)."""
        return self._decoder.pending

    def _fail(self, status: Status, identifier: int, command: int | None = None) -> None:
        """Answer and close; a simple notification (command 0) gets only the close (§3)."""
        if command != frames.SIMPLE:
            self._out += frames.encode_error(status, identifier)
        self.finished = True


class FeedbackService:
    """One environment's feedback service: a certificate in, the tuples to write out (then close)."""

    def __init__(self, state: SimState, environment: str, ledger: FeedbackLedger) -> None:
        self.state = state
        self.environment = environment
        self.ledger = ledger
        self._gateway = GatewayService(state, environment)

    def answer(self, peer_cert_der: bytes | None) -> bytes | None:
        """The whole answer for one connection, or None to close at once (no valid certificate)."""
        identity = self._gateway.identify(peer_cert_der)
        if identity is None:
            return None
        entries = self.ledger.take(self.state.registry, self.environment, identity.bundle_id,
                                   self.state.clock.time())
        return encode_tuples(entries)

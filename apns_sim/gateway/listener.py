"""The device gateway: the courier listener phones keep their persistent connection to (stage 2).

One TLS listener for both environments; which one a connection belongs to comes from the TLS server
name the phone asked for, as on Apple's service (device-side.md §1.1): ``courier.sandbox.push.apple.com``
or ``N-courier.sandbox.push.apple.com`` is the sandbox, ``courier.push.apple.com`` or
``N-courier.push.apple.com`` production. The phone proves its identity inside the protocol (Connect items
12-14, §1.5), not with a TLS client certificate. The bytes are :mod:`apns_sim.courier`'s; the decisions
(store, deliver, acknowledge) are :mod:`apns_sim.delivery`'s; this module only connects them.

A token-change event (restore from backup, erase: device-side.md §3, §6 rule 29) reaches APNs as a Connect
without a base token that names the one the phone gave up ([sim] item 0x31): the device's tokens are replaced
(the provider API then answers ``SimConfig.replaced_token_reason``) and the ConnectAck carries a new base token.

A phone of ours also reports each app's permission, badge and state ([sim] AppStatus, 0x32), which a real APNs
never learns; the gateway keeps the latest per app in ``SimState.app_reports`` for the dashboard only, and
forgets it when the app leaves the filter (deleted) or the device's tokens are replaced (restore, erase).

Memory is the constraint (ten thousand phones in one process): one ``asyncio.Protocol`` per phone, TLS
over memory BIOs (:mod:`apns_sim.gateway_tls`), one timer handle, no tasks.

Phone-side faults (:mod:`apns_sim.faults`, read only while ``phone_armed``): ``phone_offline`` drops the
matching phones when the rule is added and closes their reconnects before the ConnectAck (an outage, not a
refusal: a refused phone would activate again); ``drop_acks`` ignores acks, so delivery keeps the
notification in flight and stores it again when the connection drops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import ssl
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from apns_sim import courier, pki
from apns_sim.courier import (
    ConnectAck,
    CourierProtocolError,
    KeepAliveAck,
    Push,
    ScopedTokenAck,
)
from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.faults.plan import FAULT_STAGE, PHONE_OFFLINE, FaultRule
from apns_sim.gateway.tls_edge import TlsEdge, remember_sni
from apns_sim.model import journeys
from apns_sim.model.registry import ACTIVE, VOIP, VOIP_SUFFIX
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.gateway.listener")

ALPN = "apns-security-v3"  # what current clients offer (device-side.md §1.1)
HANDSHAKE_TIMEOUT = 30.0
# The Connect nonce carries the phone's clock (§1.5). Phones run on real time even when the simulator's
# policy clock is frozen or advanced, so freshness is judged against the wall clock.
PROOF_MAX_SKEW_MS = 5 * 60 * 1000
MAX_MESSAGE_SIZE = 5120  # ConnectAck item 4: Apple's largest payload (VoIP), §1.4
_RECENT_LIMIT = 128  # apns-ids a phone may still report on, per connection
_FINAL_STAGES = frozenset({journeys.PRESENTED, journeys.NOT_PRESENTED})
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_SERVER_NAME = re.compile(r"^(?:\d+-)?courier\.(sandbox\.)?push\.apple\.com$", re.IGNORECASE)


def environment_for_server_name(server_name: str | None) -> str | None:
    """"sandbox" / "production" for a courier host name (SNI), None for anything else."""
    if not server_name:
        return None
    match = _SERVER_NAME.match(server_name)
    if match is None:
        return None
    return "sandbox" if match.group(1) else "production"


@functools.lru_cache(maxsize=1024)
def _topic_hash(topic: str) -> bytes:
    """courier.topic_hash, remembered: every push to a topic carries the same SHA-1 (§1.6)."""
    return courier.topic_hash(topic)


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class DeviceGateway:
    """The courier listener. ``await start(host, port)``; ``.port``; ``await close()``."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._server: asyncio.Server | None = None
        self._context: ssl.SSLContext | None = None
        self._connections: set[CourierConnection] = set()
        self._by_device: dict[tuple[str, str], CourierConnection] = {}
        self._unsubscribe = state.faults.subscribe(self._fault_added)

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols([ALPN])
        ctx.sni_callback = remember_sni
        # Phones never resume TLS sessions; TLS 1.3 tickets would cost each of them ~16 KiB for nothing.
        ctx.num_tickets = 0
        authority = self.state.authority
        # ssl reads keys from files only: a private temp file in the data dir, removed at once.
        fd, key_path = tempfile.mkstemp(prefix=".gateway-key-", suffix=".pem", dir=self.state.data_dir)
        chain_fd, chain_path = tempfile.mkstemp(prefix=".gateway-chain-", suffix=".pem", dir=self.state.data_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pki.key_to_pem(authority.server_key))
            with os.fdopen(chain_fd, "wb") as f:
                f.write(authority.server_chain_pem())
            ctx.load_cert_chain(chain_path, key_path)
        finally:
            Path(key_path).unlink(missing_ok=True)
            Path(chain_path).unlink(missing_ok=True)
        return ctx

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._context = context = self._ssl_context()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: TlsEdge(context, CourierConnection(self), HANDSHAKE_TIMEOUT), host, port)
        log.info("device gateway (courier) listening on %s:%d", host, self.port)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets, "the gateway is not listening"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close("the simulator is shutting down")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let transports deliver connection_lost

    # -- bookkeeping the connections use -------------------------------------------------------------

    def offline_fault(self, device_id: str, environment: str) -> FaultRule | None:
        """The phone_offline rule that keeps this phone off the network, if any."""
        apps = [(t.token, t.bundle_id) for t in self.state.registry.list_tokens(device_id)
                if t.environment == environment]
        return self.state.faults.offline(device_id=device_id, environment=environment, apps=apps)

    def _fault_added(self, rule: FaultRule) -> None:
        if rule.kind != PHONE_OFFLINE:
            return
        for (device_id, env), connection in list(self._by_device.items()):
            fault = self.offline_fault(device_id, env)
            if fault is not None:
                connection.close(f"fault {fault.id}: phone_offline")

    def _claim(self, key: tuple[str, str], connection: CourierConnection) -> None:
        """One connection per phone and environment, as on Apple's service: a new one replaces the old."""
        old = self._by_device.get(key)
        if old is not None and old is not connection:
            old.close("the same phone connected again")
        self._by_device[key] = connection

    def _release(self, key: tuple[str, str], connection: CourierConnection) -> None:
        if self._by_device.get(key) is connection:
            del self._by_device[key]


class CourierConnection:
    """One phone's courier session: Connect, then filters, token requests, pushes and acks."""

    __slots__ = ("_decoder", "_device_id", "_environment", "_flushing", "_gateway", "_in_flight", "_last_seen",
                 "_next_id", "_recent", "_timer", "_topics", "_transport")

    def __init__(self, gateway: DeviceGateway) -> None:
        self._gateway = gateway
        self._decoder = courier.Decoder()
        self._transport: TlsEdge | None = None
        self._environment: str | None = None
        self._device_id: str | None = None
        self._topics: frozenset[bytes] = frozenset()
        self._in_flight: dict[int, str] = {}  # message id -> apns-id, until the phone acks
        # apns-id as the phone reports it (canonical lower case) -> the journey's apns-id, for SimReports
        self._recent: dict[str, str] | None = None
        self._flushing: list[PushMessage] | None = None
        self._next_id = 0
        self._last_seen = 0.0
        self._timer: asyncio.TimerHandle | None = None

    @property
    def _state(self) -> SimState:
        return self._gateway.state

    # -- transport callbacks ---------------------------------------------------------------------------

    def connection_made(self, transport: TlsEdge) -> None:
        self._transport = transport
        self._gateway._connections.add(self)
        server_name = transport.get_extra_info("server_name")
        self._environment = environment_for_server_name(server_name)
        if self._environment is None:
            why = (f"TLS server name {server_name!r} is not a courier host" if server_name else
                   "no TLS server name (SNI)")
            self._refuse(f"{why}: connect with server_hostname courier.sandbox.push.apple.com (sandbox) or "
                         "courier.push.apple.com (production)")
            return
        loop = asyncio.get_running_loop()
        self._last_seen = loop.time()
        self._timer = loop.call_later(self._state.config.courier_idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self._last_seen = asyncio.get_running_loop().time()
        try:
            messages = self._decoder.feed(data)
        except CourierProtocolError as exc:
            self.close(f"protocol error from the phone: {exc}")
            return
        for message in messages:
            if self._transport is None or self._transport.is_closing():
                return
            try:
                self._handle(message)
            except CourierProtocolError as exc:
                self.close(f"protocol error from the phone: {exc}")
            except Exception:
                log.exception("courier: unexpected error handling %s; closing the connection", type(message).__name__)
                self.close("internal error")

    def connection_lost(self, exc: Exception | None) -> None:
        self._detach()
        self._gateway._connections.discard(self)
        self._transport = None

    def close(self, why: str) -> None:
        """Close with a log line saying why; detach at once so delivery stores what was in flight."""
        if self._transport is None or self._transport.is_closing():
            return
        log.info("courier: closing connection of %s (%s): %s", self._device_id or "unauthenticated phone",
                 self._environment or "no environment", why)
        self._detach()
        self._transport.close()

    # -- messages --------------------------------------------------------------------------------------

    def _handle(self, message: courier.Message) -> None:
        if isinstance(message, courier.Connect):
            self._on_connect(message)
            return
        if isinstance(message, courier.Unknown):
            return  # seen in real traffic, no meaning we model
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
            courier.verify_connect_proof(cert, message.nonce, message.signature, int(time.time() * 1000),
                                         PROOF_MAX_SKEW_MS)
        except (pki.PkiError, courier.ConnectProofError) as exc:
            self._refuse(f"device authentication failed: {exc}")
            return
        device_id = _common_name(cert)
        device = None if device_id is None else state.registry.get_device(device_id)
        if device_id is None or device is None:
            self._refuse(f"device {device_id} is not activated here; activate it at "
                         "/deviceservices/deviceActivation on the admin server")
            return
        env = self._environment
        assert env is not None
        if state.faults.phone_armed and (fault := self._gateway.offline_fault(device_id, env)) is not None:
            log.info("courier: fault %s keeps phone %s offline: closing its connection", fault.id, device_id)
            if self._transport is not None:
                self._transport.close()  # no ConnectAck: to the phone this is the network failing
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
        self._gateway._claim((device_id, env), self)
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

        Apple marks a token only after the phone refuses a push for it (§1.10); the filter is our earlier
        trigger, so ``device-sim uninstall`` works even if the phone stays offline afterwards. The 410 still
        waits for ``delivery.unregister_delay``.
        """
        self._topics = frozenset(message.enabled)
        state, device_id, env = self._state, self._device_id, self._environment
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
        """Mint the app's token for a topic; push type "voip" is its PushKit token for ``<bundle>.voip``,
        a separate token (device-side.md §2.7, §6 rule 28)."""
        state, device_id, env = self._state, self._device_id, self._environment
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
        apns_id = self._in_flight.pop(message.message_id, None)
        if apns_id is None:
            log.debug("courier: ack for unknown message id %d from %s", message.message_id, self._device_id)
            return
        if self._state.faults.phone_armed and self._ack_dropped(apns_id, message):
            return
        ok = message.status == courier.ACK_OK
        if not ok:
            self._forget(apns_id)
        assert self._device_id is not None and self._environment is not None
        self._state.delivery.acknowledged(self._device_id, self._environment, apns_id, ok=ok)

    def _ack_dropped(self, apns_id: str, message: courier.PushAck) -> bool:
        """A drop_acks fault: the ack is ignored and delivery keeps the notification in flight."""
        state = self._state
        journey = state.journeys.get(apns_id)
        token = message.token.hex() if message.token else (journey.token if journey else None)
        rule = state.faults.decide_ack(token=token, topic=journey.topic if journey else None, apns_id=apns_id,
                                       environment=self._environment, device_id=self._device_id)
        if rule is None:
            return False
        state.journeys.add(apns_id, FAULT_STAGE, **rule.detail())
        return True

    def _on_report(self, message: courier.SimReport) -> None:
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
        if message.environment != self._environment:
            raise CourierProtocolError(f"APP_STATUS for {message.environment} on a {self._environment} connection")
        assert self._device_id is not None
        self._state.app_reports.record(self._device_id, message, self._state.clock.time())

    # -- pushes out --------------------------------------------------------------------------------------

    def _send(self, message: PushMessage) -> None:
        """Delivery's ``send`` for this phone and environment."""
        if self._flushing is not None:
            self._flushing.append(message)
            return
        self._write_push(message, 0)

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

    # -- internals -------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

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
        log.warning("courier: refused a phone from %s: %s",
                    self._transport.get_extra_info("peername") if self._transport else "?", why)
        self._write(ConnectAck(status=courier.STATUS_REFUSED, reason=why).encode())
        if self._transport is not None:
            self._transport.close()

    def _detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        device_id, env = self._device_id, self._environment
        if device_id is None or env is None:
            return
        self._device_id = None  # detach once
        self._in_flight.clear()
        self._recent = None
        if self._gateway._by_device.get((device_id, env)) is self:
            self._gateway._release((device_id, env), self)
            self._state.delivery.detach(device_id, env)
        log.info("courier: phone %s left %s", device_id, env)

    def _check_idle(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        remaining = self._last_seen + self._state.config.courier_idle_timeout - loop.time()
        if remaining > 0:
            self._timer = loop.call_later(remaining, self._check_idle)
            return
        self.close(f"silent for {self._state.config.courier_idle_timeout:g} s (no keep-alive)")

"""The provider API's per-request glue, synchronous: who is calling and what happens to each request.

:class:`ProviderService` (one per environment) turns a connection's peer certificate and ALPN into a
:class:`~apns_sim.provider_api.connection.ProviderConnection`, and each complete request into an outcome:
route checks, credentials (:mod:`apns_sim.push.auth`), Apple's rules (:mod:`apns_sim.push.validation`), then
the notification's journey and delivery. Unit tests drive it without sockets; the asyncio/TLS side is
:mod:`apns_sim.provider_api.listener`.

Reference: docs/apns-protocol.md §1 (transport), §5-§7 (auth, HTTP/2); docs/architecture.md "One
notification, end to end" for the journey recorded for every request, accepted or not.

Fault injection (:mod:`apns_sim.faults.plan`) enters here: once the headers are parsed, a session asks the plan
(only while it holds a live provider-side rule: one attribute read otherwise) and, when a rule takes the
request over, records it in the journey and hands :class:`~apns_sim.faults.plan.Injected` to the HTTP/2
core, which acts it out on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from apns_sim.faults import plan
from apns_sim.faults.plan import FAULT_STAGE, FaultRule, Injected
from apns_sim.model import journeys
from apns_sim.model.records import AppIdRecord
from apns_sim.model.registry import Registry, TokenRecord
from apns_sim.provider_api.connection import ProviderConnection, RequestHandler
from apns_sim.provider_api.intake import admit, policy_for, request_journey
from apns_sim.push.auth import ConnectionAuth, TokenIdentity, certificate_identity
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, Outcome, PushRequest, Rejection
from apns_sim.push.validation import check_request, check_route
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.server")  # the name users configure logging by, kept from before the move


class TokenCache:
    """Token records without a SQLite query per push, dropped whenever a token changes.

    Tokens change only in this process (registration, uninstall, token-change events all arrive through
    the gateway), and every such write bumps ``Registry.token_version``, so a changed version empties the
    cache. Other writes (stored notifications, portal changes) leave it alone.
    """

    def __init__(self, registry: Registry, size: int = 10_000) -> None:
        self._registry = registry
        self._size = size
        self._stamp = -1
        self._entries: dict[str, TokenRecord] = {}

    def get_token(self, token_hex: str) -> TokenRecord | None:
        stamp = self._registry.token_version
        if stamp != self._stamp:
            self._entries.clear()
            self._stamp = stamp
        record = self._entries.get(token_hex)
        if record is None:
            record = self._registry.get_token(token_hex)
            if record is not None:
                if len(self._entries) >= self._size:
                    self._entries.clear()
                self._entries[token_hex] = record
        return record


class _ConnectionLookup:
    """Tokens from the shared cache; App IDs bound per connection at first use (§5, A-F687789)."""

    __slots__ = ("_apps", "_registry", "_tokens")

    def __init__(self, registry: Registry, tokens: TokenCache) -> None:
        self._registry = registry
        self._tokens = tokens
        self._apps: dict[str, AppIdRecord | None] = {}

    def get_token(self, token_hex: str) -> TokenRecord | None:
        return self._tokens.get_token(token_hex)

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None:
        try:
            return self._apps[bundle_id]
        except KeyError:
            app = self._apps[bundle_id] = self._registry.get_app_id(bundle_id)
            return app


class ProviderSession:
    """The :class:`~apns_sim.provider_api.connection.RequestHandler` of one connection."""

    def __init__(self, service: ProviderService, auth: ConnectionAuth) -> None:
        self._service = service
        self.auth = auth
        self._lookup = _ConnectionLookup(service.state.registry, service.tokens)
        self._faults = service.state.faults
        self.key_id: str | None = None  # the auth key of the last valid provider token (revocation, §5)
        self.revoked: Reason | None = None  # set once its certificate or key is revoked: every request fails

    def _note(self, identity: object) -> bool:
        if isinstance(identity, TokenIdentity):
            self.key_id = identity.key_id
        return not isinstance(identity, Rejection)

    @property
    def gate_open(self) -> bool:
        return self.auth.gate_open

    def unlock(self, authorization: str) -> bool:
        return self._note(self.auth.authorize(authorization, self._service.state.clock.time()))

    def handle(self, request: PushRequest, apns_id: str) -> Outcome | Injected:
        if self._faults.provider_armed:
            certificate = self.auth.certificate
            rule = self._faults.decide(
                token=(request.device_token or "").lower() or None, apns_id=apns_id,
                topic=request.header("apns-topic") or (certificate.default_topic if certificate else None),
                environment=self._service.environment)
            if rule is not None:
                return self._service.inject(rule, request, apns_id, self._decide)
        return self._decide(request, apns_id)

    def _decide(self, request: PushRequest, apns_id: str) -> Outcome:
        service = self._service
        now = service.state.clock.time()
        outcome: Outcome | None = check_route(request)
        if outcome is None and self.revoked is not None:
            outcome = Rejection(self.revoked)  # in flight when the revocation was seen: refused like later ones
        if outcome is None:
            identity = self.auth.authorize(request.header("authorization"), now)
            self._note(identity)
            if isinstance(identity, Rejection):
                outcome = identity
            else:
                outcome = check_request(request, identity, self._lookup, environment=service.environment, now=now,
                                        policy=service.policy)
                if isinstance(outcome, Accepted) and service.rate_limited(outcome.token, now):
                    outcome = Rejection(Reason.TOO_MANY_REQUESTS)
        service.record(request, apns_id, outcome, now)
        return outcome


class ProviderService:
    """One environment's decisions, shared by all its connections."""

    def __init__(self, state: SimState, environment: str) -> None:
        if environment not in ("sandbox", "production"):
            raise ValueError(f"environment must be sandbox or production, not {environment!r}")
        self.state = state
        self.environment = environment
        # Pushes per token in the current second only: the map is emptied when the second changes, so it
        # never holds more than one second's tokens.
        self._rate_second = -1
        self._rate: dict[str, int] = {}
        self.tokens = TokenCache(state.registry)
        self.policy = policy_for(state.config)

    def connect(self, peer_cert_der: bytes | None, alpn: str | None,
                wrap: Callable[[ProviderSession], RequestHandler] | None = None) -> ProviderConnection:
        """A new connection's core, refused at once (GOAWAY) for a bad or other-environment certificate.

        ``wrap`` lets a listener put a check of its own in front of every request (the drop-in mode's
        ``:authority`` check, :mod:`apns_sim.provider_api.apple_hosts`)."""
        state = self.state
        certificate = refusal = None
        if peer_cert_der:
            result = certificate_identity(peer_cert_der, state.registry, self.environment, state.clock.time())
            if isinstance(result, Rejection):
                refusal = result.reason
            else:
                certificate = result
        session = ProviderSession(self, ConnectionAuth(state.registry, self.environment, certificate))
        handler: RequestHandler = session if wrap is None else wrap(session)
        core = ProviderConnection(handler, environment=self.environment, alpn=alpn,
                                  max_concurrent_streams=state.config.max_concurrent_streams)
        if refusal is not None:
            core.refuse(refusal)
        return core

    def revocations(self, sessions: list[ProviderSession]) -> list[tuple[ProviderSession, Reason]]:
        """The sessions whose certificate or auth key has been revoked since they connected (§5, §6, §7).

        Apple asks providers to close every connection once a certificate or key is revoked and closes them
        itself; the listener asks here every second and sends those connections GOAWAY with the reason a new
        connection would get. One registry read per distinct credential, however many connections share it.
        """
        registry, now = self.state.registry, self.state.clock.time()
        seen: dict[tuple[str, int | str | None], Reason | None] = {}
        found = []
        for session in sessions:
            certificate = session.auth.certificate
            credential = ("cert", certificate.serial) if certificate else ("key", session.key_id)
            if session.revoked is not None or credential[1] is None:
                continue
            if credential not in seen:
                seen[credential] = self._revoked(credential, registry, now)
            reason = seen[credential]
            if reason is not None:
                session.revoked = reason
                found.append((session, reason))
        return found

    @staticmethod
    def _revoked(credential: tuple[str, int | str | None], registry: Registry, now: float) -> Reason | None:
        name = credential[1]
        if isinstance(name, int):
            record = registry.get_certificate(name)
            if record is not None and record.revoked_at is not None and record.revoked_at.timestamp() <= now:
                return Reason.BAD_CERTIFICATE
            return None
        key = registry.get_auth_key(str(name))
        return Reason.INVALID_PROVIDER_TOKEN if key is not None and key.revoked_at is not None else None

    def rate_limited(self, token: str, now: float) -> bool:
        """``TooManyRequests`` past ``config.token_rate_limit`` pushes per second to one token (0 = off)."""
        limit = self.state.config.token_rate_limit
        if limit <= 0:
            return False
        second = int(now)
        if second != self._rate_second:
            self._rate_second = second
            self._rate.clear()
        count = self._rate[token] = self._rate.get(token, 0) + 1
        return count > limit

    def inject(self, rule: FaultRule, request: PushRequest, apns_id: str,
               decide: Callable[[PushRequest, str], Outcome]) -> Injected:
        """A fault took this request over: record it in the journey and say what the wire must do."""
        state = self.state
        if rule.processes:  # delay, max_streams, goaway "current": handled as usual, plus the fault
            outcome = decide(request, apns_id)
            state.journeys.add(apns_id, FAULT_STAGE, **rule.detail())
            return Injected(rule, outcome)
        now = state.clock.time()
        reason = rule.wire_reason
        if rule.kind == plan.REASON and reason is not None:
            timestamp = rule.timestamp
            if timestamp is None and reason is Reason.UNREGISTERED:
                timestamp = state.clock.millis()  # Apple always dates an Unregistered (§4.1)
            rejection = Rejection(reason, timestamp)
            self.record(request, apns_id, rejection, now, fault=rule)
            return Injected(rule, rejection)
        state.journeys.begin(request_journey(request, apns_id, self.environment, status=0, reason=None,
                                             timestamp=None, stages=self._earlier_stages(apns_id)),
                             FAULT_STAGE, **rule.detail())
        return Injected(rule)

    def record(self, request: PushRequest, apns_id: str, outcome: Outcome, now: float,
               fault: FaultRule | None = None) -> None:
        """Begin the journey of every request (one per apns-id) and hand accepted ones to delivery."""
        if isinstance(outcome, Accepted):
            admit(self.state, self.environment, apns_id, outcome, now, stages=self._earlier_stages(apns_id))
            return
        reason = outcome.reason
        detail: dict[str, Any] = {"reason": reason.wire}
        if outcome.timestamp is not None:
            detail["timestamp"] = outcome.timestamp
        status = reason.status
        if fault is not None:  # the stage keeps what this attempt got: a retry may end differently
            status = fault.status or status
            detail.update(fault=fault.id, status=status)
        self.state.journeys.begin(request_journey(
            request, apns_id, self.environment, status=status, reason=reason.wire, timestamp=outcome.timestamp,
            stages=self._earlier_stages(apns_id)), journeys.REJECTED, **detail)

    def _earlier_stages(self, apns_id: str) -> list[dict[str, Any]]:
        """A retry (same apns-id) of a request a fault took over keeps that history: one id, one journey."""
        if not self.state.faults.applied:
            return []
        earlier = self.state.journeys.get(apns_id)
        if earlier is None or not any("fault" in stage for stage in earlier.stages):
            return []
        return list(earlier.stages)

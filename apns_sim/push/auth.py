"""Who is pushing: a client certificate's identity, or a JWT provider token checked once per connection.

Certificate connections (docs/apns-protocol.md §6): the TLS edge hands over the peer certificate's DER;
:func:`certificate_identity` reads it with :func:`apns_sim.pki.push_identity` and refuses a revoked or
expired certificate (``BadCertificate``) or one for the other environment (``BadCertificateEnvironment``);
the caller turns either refusal into a connection-level GOAWAY, as Apple does.

Token connections (§5, A-TOKEN): :class:`ConnectionAuth` keeps the per-connection state Apple describes:
the verified token (verified once, not on every request: an ES256 verify costs more than a whole request's
budget, docs/benchmarks.md), the team bound at the first push (and when: validation refuses App IDs
created after it), and the time of the last token update (a new token within 20 minutes is
``TooManyProviderTokenUpdates``). Time is an argument (``now``, epoch seconds from the simulator clock),
never read here.

Choices where Apple is silent: a future ``iat`` is accepted up to one hour ahead, beyond that it is
``InvalidProviderToken``; ``iat`` may be any JSON number; another team's token on a bound connection is
``InvalidProviderToken`` (observed) rather than ``UnrelatedKeyIdInToken``; another key of the same team may
replace the token (subject to the 20-minute rule), since the portal models no topic-specific keys, which
is where Apple's ``UnrelatedKeyIdInToken`` applies.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Protocol

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from apns_sim import pki
from apns_sim.model.records import AuthKeyRecord, CertificateRecord
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Rejection

PROVIDER_TOKEN_MAX_AGE = 3600.0  # iat older than one hour: ExpiredProviderToken (§5)
TOKEN_UPDATE_INTERVAL = 20 * 60.0  # at most one new token per 20 minutes per connection (§5)
_JWS = jwt.PyJWS(algorithms=["ES256"])


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateIdentity:
    """What a push certificate allows: its app, team and topics (§6)."""

    bundle_id: str
    team_id: str
    topics: tuple[str, ...]
    serial: int

    @property
    def default_topic(self) -> str | None:
        """The topic used when ``apns-topic`` is absent: only a single-topic certificate has one (§6)."""
        return self.topics[0] if len(self.topics) == 1 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenIdentity:
    """A verified provider token: the team it speaks for and the key that signed it (§5).

    ``bound_at`` is when the connection carrying it made its first push, the moment APNs binds the team and
    its bundle ids to the connection (A-F687789); None for a token checked outside any connection.
    """

    team_id: str
    key_id: str
    issued_at: float
    bound_at: float | None = None


Identity = CertificateIdentity | TokenIdentity


class CertificateLookup(Protocol):
    def get_certificate(self, serial: int) -> CertificateRecord | None: ...


class KeyLookup(Protocol):
    def get_auth_key(self, key_id: str) -> AuthKeyRecord | None: ...


# -- certificates -----------------------------------------------------------------------------------


def certificate_identity(der: bytes, certificates: CertificateLookup, environment: str, now: float,
                         ) -> CertificateIdentity | Rejection:
    """The identity of a TLS client certificate, or the reason to refuse the connection.

    TLS has already checked the chain (our push CA) against real time; validity here is checked against
    the simulator clock, so a test can advance past ``not_after``. A certificate the registry does not
    know (made with :mod:`apns_sim.pki` directly) is judged by its content alone.
    """
    try:
        ident = pki.push_identity(x509.load_der_x509_certificate(der))
    except (ValueError, pki.PkiError):
        return Rejection(Reason.BAD_CERTIFICATE)
    if not ident.not_before.timestamp() <= now <= ident.not_after.timestamp():
        return Rejection(Reason.BAD_CERTIFICATE)
    record = certificates.get_certificate(ident.serial)
    if record is not None and record.revoked_at is not None and record.revoked_at.timestamp() <= now:
        return Rejection(Reason.BAD_CERTIFICATE)
    if environment not in ident.environments:
        return Rejection(Reason.BAD_CERTIFICATE_ENVIRONMENT)
    return CertificateIdentity(bundle_id=ident.bundle_id, team_id=ident.team_id, topics=ident.topics,
                               serial=ident.serial)


# -- provider tokens --------------------------------------------------------------------------------


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_segment(segment: str) -> Any:
    try:
        return json.loads(_b64url(segment))
    except (ValueError, binascii.Error):
        return None


def raw_signature(signature: bytes) -> bytes | None:
    """ES256 signature as JOSE's raw r||s; a DER SEQUENCE (pushy, Apple's sample) is converted (§5)."""
    if len(signature) == 64:
        return signature
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return None
    if r.bit_length() > 256 or s.bit_length() > 256:
        return None
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@lru_cache(maxsize=256)
def _public_key(pem: bytes) -> ec.EllipticCurvePublicKey | None:
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def verify_provider_token(authorization: str, keys: KeyLookup, environment: str, now: float,
                          ) -> TokenIdentity | Rejection:
    """Check one ``authorization: bearer <JWT>`` value from scratch (§5); no connection state.

    Order: scheme and shape, ``alg``/``kid``, the key (unknown or revoked: InvalidProviderToken), the
    signature (raw or DER), ``iss`` = the key's team, the key's environment, then ``iat`` age.
    """
    invalid = Rejection(Reason.INVALID_PROVIDER_TOKEN)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if not token:
        return Rejection(Reason.MISSING_PROVIDER_TOKEN) if scheme.lower() == "bearer" else invalid
    if scheme.lower() != "bearer":
        return invalid
    parts = token.split(".")
    if len(parts) != 3:
        return invalid
    header = _json_segment(parts[0])
    if not isinstance(header, dict) or header.get("alg") != "ES256" or not isinstance(header.get("kid"), str):
        return invalid
    record = keys.get_auth_key(header["kid"])
    if record is None or record.revoked_at is not None:
        return invalid
    public_key = _public_key(record.public_key_pem)
    try:
        signature = raw_signature(_b64url(parts[2]))
    except (ValueError, binascii.Error):
        return invalid
    if public_key is None or signature is None:
        return invalid
    raw_token = f"{parts[0]}.{parts[1]}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    try:
        payload = json.loads(_JWS.decode(raw_token, key=public_key, algorithms=["ES256"]))
    except (jwt.InvalidTokenError, ValueError):
        return invalid
    if not isinstance(payload, dict) or payload.get("iss") != record.team_id:
        return invalid
    if record.environment is not None and record.environment != environment:
        return Rejection(Reason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN)
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        return invalid
    if now - iat > PROVIDER_TOKEN_MAX_AGE:
        return Rejection(Reason.EXPIRED_PROVIDER_TOKEN)
    if iat - now > PROVIDER_TOKEN_MAX_AGE:  # "no more than one hour from the current time" (unconfirmed)
        return invalid
    return TokenIdentity(team_id=record.team_id, key_id=record.key_id, issued_at=float(iat))


class ConnectionAuth:
    """One connection's credentials: its certificate, or the provider token state Apple keeps per connection.

    ``gate_open`` tells the HTTP/2 layer when to lift MAX_CONCURRENT_STREAMS from 1 (§5 "Stream gate", §7):
    at once for a certificate, after the first valid token otherwise.
    """

    def __init__(self, keys: KeyLookup, environment: str, certificate: CertificateIdentity | None = None) -> None:
        self._keys = keys
        self._environment = environment
        self.certificate = certificate
        self._header: str | None = None  # the authorization value verified last
        self._identity: TokenIdentity | None = None
        self._installed_at = 0.0  # when that token was first accepted on this connection
        self._bound_at: float | None = None  # the first push: team and bundle ids fixed from then on
        self.team_id: str | None = certificate.team_id if certificate else None

    @property
    def gate_open(self) -> bool:
        return self.certificate is not None or self._identity is not None

    def authorize(self, authorization: str | None, now: float) -> Identity | Rejection:
        """The identity behind one request, or Apple's 403/429 reason."""
        if self.certificate is not None:
            return self.certificate  # authorization is ignored on certificate connections (§6)
        if not authorization or not authorization.strip():
            return Rejection(Reason.MISSING_PROVIDER_TOKEN)
        identity = self._identity
        if identity is not None and authorization == self._header:
            if now - identity.issued_at > PROVIDER_TOKEN_MAX_AGE:
                return Rejection(Reason.EXPIRED_PROVIDER_TOKEN)
            return identity
        result = verify_provider_token(authorization, self._keys, self._environment, now)
        if isinstance(result, Rejection):
            return result
        if self.team_id is not None and result.team_id != self.team_id:
            return Rejection(Reason.INVALID_PROVIDER_TOKEN)  # one team per connection (§5, A-F687789)
        if identity is not None and now - self._installed_at < TOKEN_UPDATE_INTERVAL:
            return Rejection(Reason.TOO_MANY_PROVIDER_TOKEN_UPDATES)
        if self._bound_at is None:
            self._bound_at = now
        result = replace(result, bound_at=self._bound_at)
        self._header, self._identity, self._installed_at = authorization, result, now
        self.team_id = result.team_id
        return result

"""Device activation: the role of ``albert.apple.com/deviceservices/deviceActivation`` (device-side.md §1.5).

A real iPhone, at activation, makes an RSA key pair and a CSR whose subject CN is a UUID it chose, wraps it
in a FairPlay-signed activation plist and receives its push identity, ``DeviceCertificate``, which it
later presents in every courier Connect. The simulator keeps the essence and drops the DRM: JSON in
(``{"csr": PEM, "name": ...}``), the device CA signs the CSR, the device is recorded with its base token.

A device id is bound to the key that first activated it (docs/device-side.md §1.5, "Who owns a device id").
Device ids are not secret (``GET /_sim/devices`` lists them), so activating a known UUID again is answered only
for the same key: a new certificate for the same device, as re-activating a real phone does, and the one
before is revoked (the gateway refuses it and closes connections that used it). Another key gets 403 until the
device erased itself: ``POST /deviceservices/deviceErase``, signed with the device's current key and carrying
its current certificate, as "Erase All Content and Settings" is done on the phone itself. There is no FairPlay
check behind any of it.

What is refused, each with a 4xx and ``{"error": ...}`` saying what to fix (a real albert answers an error
plist; a developer poking this service with curl deserves a sentence): a body that is not JSON (415 for the
wrong content type, 400 for bad JSON), a missing or non-text ``csr`` or ``name``, a CSR that does not parse or
whose self-signature does not verify (the phone must prove it holds the key the certificate will carry), a key
that is not RSA of at least 1024 bits (the courier Connect proof is an RSA PKCS#1 v1.5 signature, §1.5, so any
other key could never connect), and a subject CN that is not a UUID. The certificate answered carries the
CSR's public key and subject: it is bound to the key the phone keeps. Bounds (docs/limits.md §2): a body of at
most ``ACTIVATION_MAX_BODY`` bytes (413), and per client address a token bucket (``SimConfig.activation_rate``
and ``activation_burst``): beyond it 429 with ``Retry-After`` in seconds.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from apns_sim import limits, pki
from apns_sim.errors import SimError
from apns_sim.gateway.session import PROOF_MAX_SKEW_MS
from apns_sim.gateway.throttle import AddressThrottle
from apns_sim.model.registry import DeviceBoundError
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.gateway")

ACTIVATION_PATH = "/deviceservices/deviceActivation"
ERASE_PATH = "/deviceservices/deviceErase"
# What an erase request's signature covers, before the nonce: a Connect proof (§1.5) signs the bare nonce, so
# the tag keeps a signature made for one from being replayed as the other.
ERASE_TAG = b"pushsim device erase\x00"
ERASE_NONCE_SIZE = 16  # 8-byte big-endian milliseconds, 8 random bytes
MAX_NAME = 100
MAX_BODY = limits.ACTIVATION_MAX_BODY  # the old name, kept importable
MIN_RSA_BITS = 1024  # pypush's activation key size (§1.5); anything weaker is refused


class ActivationError(SimError, ValueError):
    """The activation request was refused; the message says what to fix, ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def activate(state: SimState, csr_pem: bytes, name: str) -> tuple[str, bytes]:
    """Issue the phone's device certificate and record the device: ``(device_id, certificate PEM)``.

    ``device_id`` is the CSR's subject CN, which must be a UUID (the phone picks it, §1.5).
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ActivationError(f"the device name must be 1 to {MAX_NAME} characters")
    try:
        csr = pki.load_csr(csr_pem)
    except pki.PkiError as exc:
        raise ActivationError(str(exc)) from exc
    key = csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise ActivationError(
            f"the device key must be RSA of at least {MIN_RSA_BITS} bits: the courier Connect proof is an RSA "
            "PKCS#1 v1.5 signature made with it (device-side.md §1.5)")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    device_id = str(names[0].value) if names else ""
    try:
        uuid.UUID(device_id)
    except ValueError as exc:
        raise ActivationError(
            f"the CSR's subject CN must be a UUID naming the device (got {device_id!r}); a phone picks a random "
            "one at activation") from exc
    key_hash = pki.public_key_sha256(key)
    known = state.registry.get_device(device_id)
    if known is not None and known.key_sha256 not in (None, key_hash):
        raise _bound(device_id)  # refused before signing anything
    now = state.clock.now()
    try:
        cert = pki.issue_device_certificate(state.authority, csr_pem, now=now)
    except pki.PkiError as exc:
        raise ActivationError(str(exc)) from exc
    try:
        _, revoked = state.registry.bind_device(device_id, name, key_hash, cert.serial_number, now)
    except DeviceBoundError as exc:  # bound by a concurrent activation since the check above
        raise _bound(device_id) from exc
    if revoked is not None:
        log.info("activation: device %s activated again with its key; certificate %x revoked", device_id,
                 int(revoked))
    return device_id, pki.cert_to_pem(cert)


def _bound(device_id: str) -> ActivationError:
    return ActivationError(
        f"device {device_id} is bound to the key that activated it; activating it with another key needs the "
        f"device to erase itself first ({ERASE_PATH}, signed with its current key), as an iPhone's Erase All "
        "Content and Settings does; a new phone picks a new random UUID", status=403)


def erase(state: SimState, cert_pem: bytes, nonce: bytes, signature: bytes, *, wall_ms: int) -> str:
    """Erase All Content and Settings, told to the activation service by the device itself: the device's
    current certificate is revoked and its key binding released; returns the device id.

    The request proves the device holds its current certificate's key: an RSA PKCS#1 v1.5 SHA-256 signature
    over ``ERASE_TAG + nonce``, the nonce being 8 bytes of milliseconds (within the Connect proof's skew of
    the wall clock, §1.5) and 8 random bytes. A certificate that is not the device's latest is refused (403),
    so a replayed erase changes nothing once the device has activated again.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        pki.verify_issued_by(cert, state.authority.device_ca_cert, state.clock.now())
    except (ValueError, pki.PkiError) as exc:
        raise ActivationError(f"the device certificate is not one this activation service issued: {exc}",
                              status=403) from exc
    if len(nonce) != ERASE_NONCE_SIZE:
        raise ActivationError(f"the nonce must be {ERASE_NONCE_SIZE} bytes: 8-byte milliseconds, 8 random bytes")
    stamped = int.from_bytes(nonce[:8], "big")
    if abs(wall_ms - stamped) > PROOF_MAX_SKEW_MS:
        raise ActivationError(f"the nonce is stamped {stamped} ms, more than {PROOF_MAX_SKEW_MS} ms from the "
                              f"server's {wall_ms} ms: check the phone's clock", status=403)
    key = cert.public_key()
    try:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(signature, ERASE_TAG + nonce, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise ActivationError("the signature does not match the device certificate's key", status=403) from exc
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    device_id = str(names[0].value) if names else ""
    if not state.registry.erase_device(device_id, cert.serial_number):
        raise ActivationError(f"certificate {cert.serial_number:x} is not the current one of device "
                              f"{device_id!r} (revoked, or the device is unknown)", status=403)
    log.info("activation: device %s erased itself: certificate %x revoked, key binding released", device_id,
             cert.serial_number)
    return device_id


def _is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/")
                                                  and content_type.endswith("+json"))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Handler = Callable[[web.Request, dict[str, object]], Awaitable[web.Response]]


def activation_routes(state: SimState) -> web.RouteTableDef:
    """``POST /deviceservices/deviceActivation``: ``{"csr": PEM, "name": ...}`` → ``{"device_id",
    "device_certificate"}``; ``POST /deviceservices/deviceErase``: ``{"certificate": PEM, "nonce": hex,
    "signature": hex}`` → ``{"device_id", "erased": true}``. Errors are ``{"error": ...}``: 400 a bad request,
    403 refused (bound to another key, a bad proof), 413 too big, 415 not JSON, 429 too many (Retry-After)."""
    routes = web.RouteTableDef()
    config = state.config
    throttle = AddressThrottle(config.activation_rate, config.activation_burst,
                               max_addresses=limits.ACTIVATION_TRACKED_ADDRESSES, now=time.monotonic)

    def guarded(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The checks both routes share, in order: rate per address, body size, JSON object."""
        async def route(request: web.Request) -> web.Response:
            wait = throttle.check(request.remote or "")
            if wait is not None:
                response = _error(429, f"too many activation requests from {request.remote}; retry in {wait} s "
                                       "(docs/limits.md §2)")
                response.headers["Retry-After"] = str(wait)
                return response
            raw = await request.content.read(MAX_BODY + 1)
            if len(raw) > MAX_BODY:
                return _error(413, f"activation requests are at most {MAX_BODY} bytes")
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                return _error(400, 'the body must be JSON (Content-Type: application/json): '
                                   '{"csr": "<PEM CSR>", "name": "<device name>"}')
            if not _is_json_type(request.content_type):
                return _error(415, f"the body is JSON but labelled {request.content_type!r}: send it as "
                                   "Content-Type: application/json")
            if not isinstance(body, dict):
                return _error(400, "the body must be a JSON object")
            try:
                return await handler(request, body)
            except ActivationError as exc:
                return _error(exc.status, str(exc))
        return route

    async def device_activation(request: web.Request, body: dict[str, object]) -> web.Response:
        csr = body.get("csr")
        if not isinstance(csr, str) or not csr.strip():
            return _error(400, 'missing "csr": send the device\'s certificate signing request as PEM text')
        name = body.get("name", "iPhone")
        if not isinstance(name, str):
            return _error(400, '"name" must be a string')
        device_id, cert_pem = activate(state, csr.encode(), name)
        return web.json_response({"device_id": device_id, "device_certificate": cert_pem.decode()})

    async def device_erase(request: web.Request, body: dict[str, object]) -> web.Response:
        cert, nonce, signature = body.get("certificate"), body.get("nonce"), body.get("signature")
        if not (isinstance(cert, str) and isinstance(nonce, str) and isinstance(signature, str)):
            return _error(400, 'send {"certificate": "<PEM>", "nonce": "<hex>", "signature": "<hex>"}')
        try:
            nonce_bytes, signature_bytes = bytes.fromhex(nonce), bytes.fromhex(signature)
        except ValueError:
            return _error(400, '"nonce" and "signature" must be hex')
        device_id = erase(state, cert.encode(), nonce_bytes, signature_bytes, wall_ms=int(time.time() * 1000))
        return web.json_response({"device_id": device_id, "erased": True})

    routes.post(ACTIVATION_PATH)(guarded(device_activation))
    routes.post(ERASE_PATH)(guarded(device_erase))
    return routes

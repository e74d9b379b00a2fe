"""Device activation: the role of ``albert.apple.com/deviceservices/deviceActivation`` (device-side.md §1.5).

A real iPhone, at activation, makes an RSA key pair and a CSR whose subject CN is a UUID it chose, wraps it
in a FairPlay-signed activation plist and receives its push identity, ``DeviceCertificate``, which it
later presents in every courier Connect. The simulator keeps the essence and drops the DRM: JSON in
(``{"csr": PEM, "name": ...}``), the device CA signs the CSR, the device is recorded with its base token.

Simulator choice: activating a UUID that is already known answers a new certificate for the same device
(as re-activating a real phone does); there is no FairPlay check behind it.

What is refused, each with a 4xx and ``{"error": ...}`` saying what to fix (a real albert answers an error
plist; a developer poking this service with curl deserves a sentence): a body that is not JSON (415 for the
wrong content type, 400 for bad JSON), a missing or non-text ``csr`` or ``name``, a CSR that does not parse or
whose self-signature does not verify (the phone must prove it holds the key the certificate will carry), a key
that is not RSA of at least 1024 bits (the courier Connect proof is an RSA PKCS#1 v1.5 signature, §1.5, so any
other key could never connect), and a subject CN that is not a UUID. The certificate answered carries the
CSR's public key and subject: it is bound to the key the phone keeps.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.errors import SimError
from apns_sim.state import SimState

ACTIVATION_PATH = "/deviceservices/deviceActivation"
MAX_NAME = 100
MAX_BODY = 64 * 1024
MIN_RSA_BITS = 1024  # pypush's activation key size (§1.5); anything weaker is refused


class ActivationError(SimError, ValueError):
    """The activation request was refused; the message says what to fix."""


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
    now = state.clock.now()
    try:
        cert = pki.issue_device_certificate(state.authority, csr_pem, now=now)
    except pki.PkiError as exc:
        raise ActivationError(str(exc)) from exc
    state.registry.activate_device(device_id, name, now)
    return device_id, pki.cert_to_pem(cert)


def _is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/")
                                                  and content_type.endswith("+json"))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def activation_routes(state: SimState) -> web.RouteTableDef:
    """``POST /deviceservices/deviceActivation``: ``{"csr": PEM, "name": ...}`` → ``{"device_id",
    "device_certificate"}``; 4xx with ``{"error": ...}`` for a bad request (400; 413 too big; 415 not JSON)."""
    routes = web.RouteTableDef()

    @routes.post(ACTIVATION_PATH)
    async def device_activation(request: web.Request) -> web.Response:
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _error(413, f"activation requests are at most {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, 'the body must be JSON (Content-Type: application/json): '
                               '{"csr": "<PEM CSR>", "name": "<device name>"}')
        if not _is_json_type(request.content_type):
            return _error(415, f"the body is JSON but labelled {request.content_type!r}: send it as "
                               "Content-Type: application/json")
        if not isinstance(body, dict):
            return _error(400, 'the body must be a JSON object: {"csr": "<PEM CSR>", "name": "<device name>"}')
        if not isinstance(body.get("csr"), str) or not body["csr"].strip():
            return _error(400, 'missing "csr": send the device\'s certificate signing request as PEM text')
        name = body.get("name", "iPhone")
        if not isinstance(name, str):
            return _error(400, '"name" must be a string')
        try:
            device_id, cert_pem = activate(state, body["csr"].encode(), name)
        except ActivationError as exc:
            return _error(400, str(exc))
        return web.json_response({"device_id": device_id, "device_certificate": cert_pem.decode()})

    return routes

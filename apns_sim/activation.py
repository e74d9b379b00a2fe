"""Device activation: the role of ``albert.apple.com/deviceservices/deviceActivation`` (device-side.md §1.5).

A real iPhone, at activation, makes an RSA key pair and a CSR whose subject CN is a UUID it chose, wraps it
in a FairPlay-signed activation plist and receives its push identity, ``DeviceCertificate``, which it
later presents in every courier Connect. The simulator keeps the essence and drops the DRM: JSON in
(``{"csr": PEM, "name": ...}``), the device CA signs the CSR, the device is recorded with its base token.

Simulator choice: activating a UUID that is already known answers a new certificate for the same device
(as re-activating a real phone does); there is no FairPlay check behind it.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.state import SimState

ACTIVATION_PATH = "/deviceservices/deviceActivation"
MAX_NAME = 100
MAX_BODY = 64 * 1024


class ActivationError(ValueError):
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


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def activation_routes(state: SimState) -> web.RouteTableDef:
    """``POST /deviceservices/deviceActivation``: ``{"csr": PEM, "name": ...}`` → ``{"device_id",
    "device_certificate"}``; 400 with ``{"error": ...}`` for a bad request."""
    routes = web.RouteTableDef()

    @routes.post(ACTIVATION_PATH)
    async def device_activation(request: web.Request) -> web.Response:
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _error(413, f"activation requests are at most {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, 'the body must be JSON: {"csr": "<PEM CSR>", "name": "<device name>"}')
        if not isinstance(body, dict) or not isinstance(body.get("csr"), str):
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

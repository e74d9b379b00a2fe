"""Device activation: the one client of the simulator's activation service, for a phone and for a fleet
(docs/device-side.md §1.5, §6 rule 1).

A real iPhone gets its push identity once, from Apple's activation service (albert): it makes an RSA key,
sends a CSR whose subject CN is its UUID, and keeps the ``DeviceCertificate`` it is answered. The simulator
plays albert at ``POST /deviceservices/deviceActivation`` on its admin address (docs/admin-api.md).

A :class:`~device_sim.phone.Phone` and a :class:`~device_sim.fleet.Fleet` activate the same way, so they
share this module rather than two copies that drift apart (the fleet's copy used to accept a certificate
for another key). An answer is used only if it is HTTP 200 with a device certificate, for the device id we
sent, carrying the public key we sent: a certificate for any other key would make every Connect fail, since
the Connect proof is signed with our key (§1.5 item 2), and APNs would refuse it as a stranger's.

The state on disk is :mod:`device_sim.identity.store`'s, a sans-IO core; the HTTP (aiohttp) is here.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from device_sim.errors import DeviceSimError
from device_sim.identity.store import DeviceStore, Identity, make_csr

ACTIVATION_PATH = "/deviceservices/deviceActivation"
ERASE_PATH = "/deviceservices/deviceErase"
# The erase proof signs this tag and the nonce; the service keeps its own copy of the format, so both sides do
# not share one mistake (as with the reason tables, docs/architecture.md).
ERASE_TAG = b"pushsim device erase\x00"
PHONE_TIMEOUT = 30.0  # seconds for one activation request of a phone (a fleet passes its own)


async def activate(admin_url: str, key: rsa.RSAPrivateKey, device_id: str, name: str, *,
                   session: aiohttp.ClientSession | None = None, timeout: float = PHONE_TIMEOUT,
                   csr: bytes | None = None) -> x509.Certificate:
    """POST the CSR to the activation service and return the device certificate, checked (see the module doc).

    ``session``: the caller's HTTP session (a fleet shares one); None opens one for this request. ``csr``:
    the request to send, if the caller already made it (the phone keeps a copy); default ``make_csr``.
    Raises :class:`DeviceSimError` when the service cannot be reached, refuses, or answers wrongly.
    """
    csr = make_csr(key, device_id) if csr is None else csr
    url = admin_url.rstrip("/") + ACTIVATION_PATH
    body = {"csr": csr.decode(), "name": name}
    try:
        if session is None:
            async with aiohttp.ClientSession() as own:
                status, answer = await _post(own, url, body, timeout)
        else:
            status, answer = await _post(session, url, body, timeout)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise DeviceSimError(f"device activation at {url} failed: {exc or type(exc).__name__}") from exc
    return check_answer(url, status, answer, key=key, device_id=device_id)


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, str],
                timeout: float) -> tuple[int, Any]:
    """POST once more while the service answers 429 and its Retry-After still fits in ``timeout``: a fleet
    activating thousands of phones from one address meets the service's rate limit (docs/limits.md §2)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=max(left, 0.001))) as response:
            retry_after = response.headers.get("Retry-After", "")
            if response.status != 429 or not retry_after.isdigit() or loop.time() + int(retry_after) > deadline:
                return response.status, await response.json(content_type=None)
        await asyncio.sleep(int(retry_after))


def check_answer(url: str, status: int, answer: Any, *, key: rsa.RSAPrivateKey, device_id: str) -> x509.Certificate:
    """The device certificate in the activation service's answer, if it is one we can use (module doc)."""
    if status != 200 or not isinstance(answer, dict) or "device_certificate" not in answer:
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise DeviceSimError(f"device activation at {url} was refused (HTTP {status}): {error}")
    try:
        cert = x509.load_pem_x509_certificate(str(answer["device_certificate"]).encode())
    except ValueError as exc:
        raise DeviceSimError(f"device activation at {url} answered no PEM certificate: {exc}") from exc
    if not _same_key(cert, key) or answer.get("device_id") != device_id:
        raise DeviceSimError(f"device activation at {url} answered a certificate for another device")
    return cert


def _same_key(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    """The certificate carries our public key (compared as DER SubjectPublicKeyInfo)."""
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


async def erase(admin_url: str, key: rsa.RSAPrivateKey, cert: x509.Certificate, *,
                timeout: float = PHONE_TIMEOUT) -> str:
    """Tell the activation service this device erased itself (Erase All Content and Settings): it revokes the
    certificate and releases the device id from the key, so the phone can activate again with a new key.
    Signed with the current key over a fresh nonce (docs/device-side.md §1.5); returns the device id."""
    nonce = int(time.time() * 1000).to_bytes(8, "big") + os.urandom(8)
    signature = key.sign(ERASE_TAG + nonce, padding.PKCS1v15(), hashes.SHA256())
    url = admin_url.rstrip("/") + ERASE_PATH
    body = {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(), "nonce": nonce.hex(),
            "signature": signature.hex()}
    try:
        async with aiohttp.ClientSession() as session:
            status, answer = await _post(session, url, body, timeout)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise DeviceSimError(f"device erase at {url} failed: {exc or type(exc).__name__}") from exc
    if status != 200 or not isinstance(answer, dict) or not answer.get("erased"):
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise DeviceSimError(f"device erase at {url} was refused (HTTP {status}): {error}")
    return str(answer["device_id"])


async def erase_identity(store: DeviceStore, admin_url: str, *, timeout: float = PHONE_TIMEOUT) -> str:
    """Erase the phone's push identity: the service revokes its certificate and releases its device id (signed
    with the current key, :func:`erase`), then the key and certificate are deleted here, so the next
    activation binds the same device id to a new key. Returns the device id; the files stay if it fails."""
    cert = store.certificate()
    if cert is None:
        raise DeviceSimError(f"the phone in {store.dir} has no device certificate to erase")
    device_id = await erase(admin_url, store.key(), cert, timeout=timeout)
    store.forget_identity()
    return device_id


async def phone_identity(store: DeviceStore, admin_url: str, *, reactivate: bool = False) -> Identity:
    """A phone's push identity from its state dir, activating the phone first if it has no certificate yet
    (or if asked to again: a refused Connect makes a phone activate once more, §1.5 item 4)."""
    assert store.state is not None, "load the phone's state first"
    key = store.key()
    cert = None if reactivate else store.certificate()
    if cert is None:
        csr = make_csr(key, store.state.device_id)
        store.keep_csr(csr)
        cert = await activate(admin_url, key, store.state.device_id, store.state.name, csr=csr)
        store.keep_certificate(cert)
    return Identity(device_id=store.state.device_id, key=key, certificate=cert)


__all__ = ["ACTIVATION_PATH", "ERASE_PATH", "activate", "check_answer", "erase", "erase_identity", "make_csr",
           "phone_identity"]

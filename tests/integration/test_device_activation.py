"""The one activation client (device_sim.identity.activation), as a phone and as a fleet use it.

The answer checks are pure and tested first without sockets. Then a tiny activation service on 127.0.0.1
(aiohttp, real sockets, the simulator's route) signs each CSR honestly, or breaks exactly one thing: it
answers a certificate for another key. A phone and a fleet must both refuse that certificate
(docs/device-side.md §1.5: the Connect proof is signed with the device's key, so a certificate for any other
key is useless). Before the shared client, the fleet's copy of activation skipped this check.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from device_sim.errors import DeviceSimError
from device_sim.fleet.fleet import Fleet
from device_sim.fleet.identities import activate as fleet_activate
from device_sim.fleet.identities import generate_keys, load_key, new_identity
from device_sim.identity.activation import ACTIVATION_PATH, activate, check_answer, make_csr, phone_identity
from device_sim.identity.store import DeviceStore, Endpoints
from device_sim.phone.phone import Phone

DEVICE_ID = "6F1E0C36-4C1B-4D0E-9A43-1B3E27C0F001"
URL = "http://activation.test" + ACTIVATION_PATH
ANOTHER_DEVICE = "answered a certificate for another device"


def _certificate(public_key: rsa.RSAPublicKey, device_id: str) -> x509.Certificate:
    """A device certificate as the simulator's CA would issue it, for ``public_key``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Activation CA")]))
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))


def _carries(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return load_key(generate_keys(1)[0])


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return load_key(generate_keys(1)[0])


# -- the answer checks, without sockets ------------------------------------------------------------------


def test_a_certificate_for_our_key_and_device_is_accepted(key: rsa.RSAPrivateKey) -> None:
    cert = _certificate(key.public_key(), DEVICE_ID)
    answer = {"device_id": DEVICE_ID, "device_certificate": _pem(cert)}
    assert check_answer(URL, 200, answer, key=key, device_id=DEVICE_ID) == cert


def test_a_certificate_for_another_key_is_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    """The key-match check: same device id, but the certificate carries a key we do not hold."""
    answer = {"device_id": DEVICE_ID, "device_certificate": _pem(_certificate(other_key.public_key(), DEVICE_ID))}
    with pytest.raises(DeviceSimError, match=ANOTHER_DEVICE):
        check_answer(URL, 200, answer, key=key, device_id=DEVICE_ID)


def test_a_certificate_for_another_device_id_is_refused(key: rsa.RSAPrivateKey) -> None:
    answer = {"device_id": "SOMEONE-ELSE", "device_certificate": _pem(_certificate(key.public_key(), DEVICE_ID))}
    with pytest.raises(DeviceSimError, match=ANOTHER_DEVICE):
        check_answer(URL, 200, answer, key=key, device_id=DEVICE_ID)


@pytest.mark.parametrize(("status", "answer", "said"), [
    (400, {"error": "the CSR's CN must be a UUID"}, r"refused \(HTTP 400\): the CSR's CN must be a UUID"),
    (200, {"device_id": DEVICE_ID}, r"refused \(HTTP 200\): None"),
    (502, "Bad Gateway", r"refused \(HTTP 502\): Bad Gateway"),
    (200, {"device_id": DEVICE_ID, "device_certificate": "not a certificate"}, "answered no PEM certificate"),
])
def test_a_refusal_or_a_broken_answer_says_so_in_one_line(key: rsa.RSAPrivateKey, status: int, answer: object,
                                                           said: str) -> None:
    with pytest.raises(DeviceSimError, match=said):
        check_answer(URL, status, answer, key=key, device_id=DEVICE_ID)


# -- over real sockets: a phone and a fleet against a tiny activation service ----------------------------


@dataclass
class FakeActivation:
    """The simulator's activation route on 127.0.0.1. ``wrong_key``: answer, for the CSR's device id, a
    certificate for a freshly made key instead of the CSR's (the one thing broken)."""

    admin: str = ""
    wrong_key: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        device_id = str(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        public_key = csr.public_key()
        if self.wrong_key:
            public_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        return web.json_response({"device_id": device_id, "device_certificate": _pem(_certificate(public_key,
                                                                                                  device_id))})


@pytest.fixture
async def service() -> AsyncIterator[FakeActivation]:
    fake = FakeActivation()
    app = web.Application()
    app.router.add_post(ACTIVATION_PATH, fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.admin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@pytest.fixture
def endpoints(tmp_path: Path, service: FakeActivation) -> Endpoints:
    """The fake service as the admin address; a real CA file (the phone loads it before activating); no
    gateway, since nothing here gets as far as connecting."""
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return Endpoints(gateway_host="127.0.0.1", gateway_port=1, admin=service.admin, ca_file=tmp_path / "ca.pem")


async def test_the_shared_client_accepts_an_honest_service(service: FakeActivation, key: rsa.RSAPrivateKey) -> None:
    """The control for the refusals below: the same service, honest, is accepted over HTTP."""
    cert = await activate(service.admin, key, DEVICE_ID, "iPhone")
    assert _carries(cert, key)
    assert service.requests[0]["csr"] == make_csr(key, DEVICE_ID).decode() and service.requests[0]["name"] == "iPhone"


async def test_a_fleet_refuses_a_certificate_for_another_key(service: FakeActivation,
                                                             endpoints: Endpoints) -> None:
    """Through Fleet.open: the only phone's activation is refused, so the fleet has no phone and says why."""
    service.wrong_key = True
    with pytest.raises(DeviceSimError, match=f"no phone could be activated: .*{ANOTHER_DEVICE}"):
        async with Fleet.open(endpoints, count=1, app="com.example.fleet", key_workers=0):
            pytest.fail("the fleet came up with a certificate it cannot use")
    assert len(service.requests) == 1


async def test_the_fleet_activation_keeps_an_honest_certificate_and_refuses_a_wrong_one(
        service: FakeActivation) -> None:
    """The fleet's own activate (its shared session): honest → the phone with its certificate; wrong key →
    DeviceSimError, where the fleet's old copy of this code accepted the certificate."""
    phone = new_identity(generate_keys(1)[0])
    async with aiohttp.ClientSession() as session:
        activated = await fleet_activate(session, service.admin, phone, "Fleet iPhone")
        assert activated.device_id == phone.device_id and activated.cert_der is not None
        assert _carries(activated.identity().certificate, load_key(phone.key_der))
        service.wrong_key = True
        with pytest.raises(DeviceSimError, match=ANOTHER_DEVICE):
            await fleet_activate(session, service.admin, phone, "Fleet iPhone")


async def test_a_phone_refuses_a_certificate_for_another_key(service: FakeActivation, endpoints: Endpoints,
                                                             tmp_path: Path) -> None:
    """Through Phone.open: activation fails, and no certificate is kept (the next start activates again)."""
    service.wrong_key = True
    state_dir = tmp_path / "phone"
    with pytest.raises(DeviceSimError, match=ANOTHER_DEVICE):
        async with Phone.open(endpoints, state_dir=state_dir):
            pytest.fail("the phone came up with a certificate it cannot use")
    assert len(service.requests) == 1
    assert not (state_dir / "device-cert.pem").exists() and (state_dir / "device.csr").exists()


async def test_a_phone_keeps_an_honest_certificate_and_activates_once(service: FakeActivation,
                                                                      tmp_path: Path) -> None:
    """docs/device-side.md §6 rule 1: one identity, activated on first use and kept; ``reactivate`` asks
    again for the same key (what a refused Connect does, §1.5)."""
    store = DeviceStore(tmp_path / "phone")
    store.lock()
    try:
        state = store.load("Test iPhone")
        first = await phone_identity(store, service.admin)
        assert first.device_id == state.device_id
        assert _carries(first.certificate, first.key)
        assert service.requests[0]["name"] == "Test iPhone"
        again = await phone_identity(store, service.admin)
        assert again.certificate == first.certificate and len(service.requests) == 1
        renewed = await phone_identity(store, service.admin, reactivate=True)
        assert len(service.requests) == 2 and renewed.key.private_numbers() == first.key.private_numbers()
        service.wrong_key = True
        with pytest.raises(DeviceSimError, match=ANOTHER_DEVICE):
            await phone_identity(store, service.admin, reactivate=True)
        assert store.certificate() == renewed.certificate  # the refused one was not kept
    finally:
        store.unlock()

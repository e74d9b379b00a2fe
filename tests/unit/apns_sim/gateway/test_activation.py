"""Device activation's decision (apns_sim.gateway.activation.activate), no HTTP: what is issued and what refused."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.gateway.activation import ActivationError, activate
from apns_sim.state import SimState


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimState]:
    s = SimState(Path(tmp_path_factory.mktemp("apns")))
    yield s
    s.close()


@pytest.fixture(scope="module")
def device_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def csr_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "iPhone"),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _spki(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_certificate_is_bound_to_the_phones_key(state: SimState, device_key: rsa.RSAPrivateKey) -> None:
    """device-side.md §1.5: the device CA signs the phone's CSR; the certificate carries the phone's key and its
    UUID, so only the phone holding that key can make the Connect proof."""
    device_id = str(uuid.uuid4()).upper()
    got_id, pem = activate(state, csr_pem(device_key, device_id), "Test iPhone")
    cert = x509.load_pem_x509_certificate(pem)
    assert got_id == device_id
    assert _spki(cert.public_key()) == _spki(device_key.public_key())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device_id
    pki.verify_issued_by(cert, state.authority.device_ca_cert, state.clock.now())
    device = state.registry.get_device(device_id)
    assert device is not None and device.name == "Test iPhone"


def test_a_csr_whose_signature_does_not_verify_is_refused(state: SimState, device_key: rsa.RSAPrivateKey) -> None:
    """device-side.md §1.5: the CSR's self-signature proves the phone holds the key; an altered one is refused."""
    good = x509.load_pem_x509_csr(csr_pem(device_key, str(uuid.uuid4())))
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the signature is the last field
    body = base64.encodebytes(bytes(der)).decode()
    tampered = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n".encode()
    with pytest.raises(ActivationError, match="does not verify"):
        activate(state, tampered, "iPhone")


def test_a_non_rsa_key_is_refused(state: SimState) -> None:
    """device-side.md §1.5: the Connect proof is an RSA PKCS#1 v1.5 signature, so the device key must be RSA."""
    with pytest.raises(ActivationError, match="RSA"):
        activate(state, csr_pem(ec.generate_private_key(ec.SECP256R1()), str(uuid.uuid4())), "iPhone")


@pytest.mark.parametrize(("csr", "name", "match"), [
    (b"not a csr", "iPhone", "not a certificate signing request"),
    (None, "iPhone", "UUID"),
    (None, "   ", "device name"),
    (None, "x" * 101, "device name"),
])
def test_malformed_requests_say_what_to_fix(state: SimState, device_key: rsa.RSAPrivateKey, csr: bytes | None,
                                            name: str, match: str) -> None:
    """device-side.md §1.5: the CSR's CN is the phone's UUID; a name and a parsable CSR are required."""
    with pytest.raises(ActivationError, match=match):
        activate(state, csr if csr is not None else csr_pem(device_key, "not-a-uuid"), name)


def test_a_device_id_stays_bound_to_the_key_that_activated_it(state: SimState, device_key: rsa.RSAPrivateKey) -> None:
    """docs/device-side.md §1.5: the same key activates again (a new certificate, the old one revoked);
    another key is refused with 403 and nothing is changed."""
    device_id = str(uuid.uuid4()).upper()
    _, first = activate(state, csr_pem(device_key, device_id), "phone")
    _, second = activate(state, csr_pem(device_key, device_id), "phone")
    first_serial = x509.load_pem_x509_certificate(first).serial_number
    second_serial = x509.load_pem_x509_certificate(second).serial_number
    device = state.registry.get_device(device_id)
    assert device is not None and device.key_sha256 == pki.public_key_sha256(device_key.public_key())
    assert device.accepts_certificate(second_serial) and not device.accepts_certificate(first_serial)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ActivationError, match="bound to the key") as refused:
        activate(state, csr_pem(impostor, device_id), "impostor")
    assert refused.value.status == 403
    assert state.registry.get_device(device_id) == device


def test_erase_releases_the_binding_only_with_the_current_certificate(state: SimState,
                                                                      device_key: rsa.RSAPrivateKey) -> None:
    """docs/device-side.md §1.5: after the device erased itself, a new key may activate its id."""
    device_id = str(uuid.uuid4()).upper()
    _, old = activate(state, csr_pem(device_key, device_id), "phone")
    _, current = activate(state, csr_pem(device_key, device_id), "phone")
    old_serial = x509.load_pem_x509_certificate(old).serial_number
    current_serial = x509.load_pem_x509_certificate(current).serial_number
    assert not state.registry.erase_device(device_id, old_serial)  # a revoked certificate cannot erase
    assert state.registry.erase_device(device_id, current_serial)
    device = state.registry.get_device(device_id)
    assert device is not None and device.key_sha256 is None and not device.accepts_certificate(current_serial)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    activate(state, csr_pem(new_key, device_id), "phone")
    rebound = state.registry.get_device(device_id)
    assert rebound is not None and rebound.key_sha256 == pki.public_key_sha256(new_key.public_key())

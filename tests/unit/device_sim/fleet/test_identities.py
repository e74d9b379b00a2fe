"""The fleet's compact identities and their state file (no sockets)."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from apns_sim import courier
from device_sim.fleet.identities import (
    KEYS_PER_JOB,
    FleetStore,
    PhoneIdentity,
    generate_keys,
    load_key,
    new_identity,
    new_keys,
)
from device_sim.identity.store import DeviceSimError


def test_generated_keys_are_rsa_1024_and_sign_a_connect_proof() -> None:
    """Each phone has its own RSA-1024 key, which signs the Connect nonce (device-side.md §1.5)."""
    first, second = generate_keys(2)
    key = load_key(first)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 1024 and first != second
    nonce, signature = courier.make_connect_proof(key, 1_700_000_000_000)
    assert signature.startswith(b"\x01\x01") and len(signature) == 2 + 128 and len(nonce) == 17


def test_identity_json_round_trip_and_new_ids_are_uuids() -> None:
    """The device id is the UUID the phone picks, upper-case like the CSR's CN (device-side.md §1.5)."""
    phone = new_identity(b"\x01key")
    assert len(phone.device_id) == 36 and phone.device_id == phone.device_id.upper() and phone.cert_der is None
    assert PhoneIdentity.from_json(phone.to_json()) == phone
    activated = PhoneIdentity(phone.device_id, phone.key_der, b"\x30\x03der")
    assert PhoneIdentity.from_json(activated.to_json()) == activated


def test_store_keeps_keys_but_drops_certificates_from_another_ca(tmp_path: Path) -> None:
    """A certificate from another simulator's CA is worthless (device-side.md §1.5: APNs checks the issuer);
    the key is kept, since generating it is the expensive part."""
    store = FleetStore(tmp_path / "fleet")
    store.lock()
    phones = [PhoneIdentity("A", b"ka", b"ca"), PhoneIdentity("B", b"kb", None)]
    store.save(phones, "ca-1")
    assert (tmp_path / "fleet" / "phones.jsonl").stat().st_mode & 0o777 == 0o600
    assert store.load("ca-1") == phones
    assert store.load("ca-2") == [PhoneIdentity("A", b"ka"), PhoneIdentity("B", b"kb")]
    other = FleetStore(tmp_path / "fleet")
    with pytest.raises(DeviceSimError, match="another process"):
        other.lock()
    store.unlock()
    other.lock()
    other.unlock()


def test_damaged_state_file_says_what_to_do(tmp_path: Path) -> None:
    store = FleetStore(tmp_path)
    store.phones_path.write_text("{not json\n")
    with pytest.raises(DeviceSimError, match="delete the fleet state dir"):
        store.load("ca")


def test_identity_builds_a_courier_identity(tmp_path: Path) -> None:
    """The phone keeps bytes and builds Identity at Connect time; a phone without certificate cannot."""
    (key_der,) = generate_keys(1)
    key = load_key(key_der)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "X")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    identity = PhoneIdentity("X", key_der, der).identity()
    assert identity.certificate_der == der and identity.device_id == "X"
    with pytest.raises(AssertionError):
        PhoneIdentity("X", key_der).identity()


def test_small_key_batches_are_made_in_process_and_handed_over_in_order() -> None:
    """Below two worker batches no process is started; every key arrives once."""
    batches: list[int] = []

    async def collect(keys: list[bytes]) -> None:
        batches.append(len(keys))

    asyncio.run(new_keys(KEYS_PER_JOB + 3, 2, collect))
    assert batches == [KEYS_PER_JOB, 3]

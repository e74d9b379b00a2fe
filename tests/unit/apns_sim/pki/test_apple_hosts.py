"""The Apple host table, the certificate that covers it, and the drop-in trust files (docs/drop-in.md §1, §3, §4)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.pki import apple_hosts, trust
from apns_sim.pki.authority import REFUSAL_NAME

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _dns_names(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)


def _covers(names: list[str], host: str) -> bool:
    """RFC 6125 §6.4.3: an exact name, or a wildcard standing for the whole leftmost label."""
    return host in names or f"*.{host.partition('.')[2]}" in names


def test_the_table_has_apples_provider_hosts_on_443_and_2197() -> None:
    """docs/drop-in.md §1: three names, two environments, the same two ports."""
    rows = {h.name: (h.environment, h.ports) for h in apple_hosts.hosts_for(apple_hosts.PROVIDER_API)}
    assert rows == {
        "api.push.apple.com": ("production", (443, 2197)),
        "api.sandbox.push.apple.com": ("sandbox", (443, 2197)),
        "api.development.push.apple.com": ("sandbox", (443, 2197)),
    }
    assert apple_hosts.ports_for(apple_hosts.PROVIDER_API, 10000) == (10443, 12197)
    assert len(apple_hosts.host_names()) == len(set(apple_hosts.host_names()))


def test_lookup_ignores_case_and_a_trailing_dot_and_knows_no_other_name() -> None:
    """docs/drop-in.md §3: server names compare as DNS names do."""
    host = apple_hosts.lookup("API.Sandbox.Push.Apple.com.")
    assert host is not None and host.environment == "sandbox"
    for other in ("localhost", "push.apple.com", "api.push.apple.com.evil.test", "", None):
        assert apple_hosts.lookup(other) is None
    assert apple_hosts.lookup("api.push.apple.com", interface="binary") is None


def test_the_server_certificate_covers_every_name_of_the_table() -> None:
    """docs/drop-in.md §1: a client dialling any Apple name accepts the simulator's certificate."""
    names = _dns_names(pki.create_authority(NOW).server_cert)
    assert all(_covers(names, host) for host in apple_hosts.host_names()), names


def test_the_refusal_certificate_names_nothing_a_client_dials_and_says_why() -> None:
    """docs/drop-in.md §3: signed by our root, valid for one .invalid name only, the reason in its CN."""
    authority = pki.create_authority(NOW)
    chain, _key = pki.issue_refusal_certificate(authority, NOW, "pushsim: not an Apple push host name")
    cert = x509.load_pem_x509_certificate(chain)
    assert _dns_names(cert) == [REFUSAL_NAME]
    assert not any(_covers([REFUSAL_NAME], host) for host in (*apple_hosts.host_names(), "localhost"))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pushsim: not an Apple push host name"
    pki.verify_issued_by(cert, authority.root_cert, NOW)


def test_the_bundle_keeps_the_system_cas_and_adds_ours() -> None:
    """docs/drop-in.md §4: trusting the simulator must not cut a job off from every other HTTPS server."""
    authority = pki.create_authority(NOW)
    ca = authority.ca_bundle_pem()
    other = pki.cert_to_pem(pki.create_authority(NOW).root_cert)
    bundle = trust.combined_bundle(ca, other)
    assert bundle.startswith(other.rstrip(b"\n")) and bundle.endswith(ca)
    assert trust.combined_bundle(ca, None) == ca


def test_the_java_truststore_opens_with_the_documented_password_and_holds_our_root_first() -> None:
    """docs/drop-in.md §4: PKCS#12, password changeit, the simulator's root then the system's CAs."""
    authority = pki.create_authority(NOW)
    other = pki.create_authority(NOW).root_cert
    store = trust.java_truststore(authority.ca_bundle_pem(), pki.cert_to_pem(other))
    loaded = pkcs12.load_pkcs12(store, trust.JAVA_TRUSTSTORE_PASSWORD.encode())
    assert loaded.key is None
    assert [c.certificate for c in loaded.additional_certs] == [authority.root_cert, other]
    assert loaded.additional_certs[0].friendly_name == f"{trust.SIM_ALIAS}-0".encode()

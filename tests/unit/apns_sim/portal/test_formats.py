"""``apns-sim portal export``: the tutorial's openssl conversions, checked against openssl itself.

docs/device-side.md §5 step 5 lists the commands (``openssl x509 -inform der``, ``openssl pkcs12 -nocerts
-nodes``, ``cat`` into ``ck.pem``, ``openssl pkcs12 -export``); where openssl can produce the same file, the test
compares bytes, and every file we write is read back with openssl. No sockets (STYLE habit 8).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apns_sim import cli, pki
from apns_sim.portal import formats

NOW = datetime.now(UTC).replace(microsecond=0)
BUNDLE, TEAM, PW = "com.example.app", "ABCDE12345", "s3cret"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.create_authority(NOW)


@pytest.fixture
def tutorial(authority: pki.Authority, tmp_path: Path) -> dict[str, Path]:
    """The tutorial's two files: aps_development.cer (DER) and the key-only Push.p12."""
    csr, p12 = pki.make_keychain_request(email="dev@example.com", common_name="Push Test", password=PW)
    cert = pki.issue_push_certificate(authority, csr, bundle_id=BUNDLE, team_id=TEAM, environment="sandbox",
                                      now=NOW)
    files = {"cer": tmp_path / "aps_development.cer", "p12": tmp_path / "Push.p12"}
    files["cer"].write_bytes(pki.cert_to_der(cert))
    pki.write_private(files["p12"], p12)
    return files


def tutorial_inputs(files: dict[str, Path], password: str | None = PW) -> formats.Inputs:
    return formats.Inputs(cer=files["cer"].read_bytes(), cer_name=files["cer"].name,
                         p12=files["p12"].read_bytes(), p12_name=files["p12"].name, password=password)


def write(result: formats.Exported, directory: Path) -> dict[str, Path]:
    paths = {}
    for item in result.files:
        paths[item.role] = directory / item.name
        (pki.write_private if item.private else pki.write_public)(paths[item.role], item.data)
    return paths


def pem_block(text: bytes) -> bytes:
    """openssl pkcs12 prints "Bag Attributes" before the PEM; keep the PEM."""
    return text[text.index(b"-----BEGIN"):]


def test_pem_is_byte_for_byte_what_openssl_makes(tutorial: dict[str, Path], tmp_path: Path) -> None:
    """docs/device-side.md §5 step 5: x509 -inform der, pkcs12 -nocerts -nodes, cat: same bytes as openssl's."""
    result = formats.convert(tutorial_inputs(tutorial), "pem")
    paths = write(result, tmp_path)
    by_openssl = openssl("x509", "-inform", "DER", "-in", str(tutorial["cer"]))
    assert by_openssl.returncode == 0, by_openssl.stderr
    assert paths["cert"].read_bytes() == by_openssl.stdout
    key = openssl("pkcs12", "-in", str(tutorial["p12"]), "-nocerts", "-nodes", "-passin", f"pass:{PW}")
    assert key.returncode == 0, key.stderr
    assert paths["key"].read_bytes() == pem_block(key.stdout)
    assert paths["combined"].read_bytes() == by_openssl.stdout + pem_block(key.stdout)
    assert [f.name for f in result.files] == ["cert.pem", "key.pem", "ck.pem"]
    assert [f.private for f in result.files] == [False, True, True]


def test_openssl_reads_the_pem_files(tutorial: dict[str, Path], tmp_path: Path) -> None:
    """§5 step 5 and docs/apns-protocol.md §6: cert.pem is the push certificate; key.pem is its key."""
    paths = write(formats.convert(tutorial_inputs(tutorial), "pem"), tmp_path)
    subject = openssl("x509", "-in", str(paths["cert"]), "-noout", "-subject")
    assert subject.returncode == 0, subject.stderr
    assert f"UID = {BUNDLE}, CN = Apple Development IOS Push Services: {BUNDLE}, OU = {TEAM}".encode() \
        in subject.stdout
    cert_pub = openssl("x509", "-in", str(paths["cert"]), "-noout", "-pubkey")
    key_pub = openssl("pkey", "-in", str(paths["key"]), "-pubout")
    assert key_pub.returncode == 0 and cert_pub.returncode == 0, key_pub.stderr + cert_pub.stderr
    assert key_pub.stdout == cert_pub.stdout  # the pair belongs together
    from_ck = openssl("pkey", "-in", str(paths["combined"]), "-pubout")
    assert from_ck.stdout == cert_pub.stdout  # ck.pem holds the key too
    assert b"ENCRYPTED" not in paths["key"].read_bytes()  # -nodes: no pass phrase


def test_combined_p12_made_by_openssl_converts_back(tutorial: dict[str, Path], tmp_path: Path) -> None:
    """§5 step 5 "alternative flow": one .p12 with both, split as pkcs12 -clcerts -nokeys / -nocerts do."""
    paths = write(formats.convert(tutorial_inputs(tutorial), "pem"), tmp_path)
    combined = tmp_path / "combined.p12"
    made = openssl("pkcs12", "-export", "-in", str(paths["cert"]), "-inkey", str(paths["key"]),
                   "-passout", "pass:other", "-out", str(combined))
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    out.mkdir()
    result = formats.convert(formats.Inputs(p12=combined.read_bytes(), p12_name="combined.p12", password="other"),
                            "pem")
    again = write(result, out)
    assert again["cert"].read_bytes() == paths["cert"].read_bytes()
    assert again["key"].read_bytes() == paths["key"].read_bytes()
    assert result.sources == ("combined.p12",)
    assert result.openssl[0] == "openssl pkcs12 -in combined.p12 -clcerts -nokeys -out cert.pem"


def test_p12_output_is_read_by_openssl(tutorial: dict[str, Path], tmp_path: Path) -> None:
    """§5 step 5: ``openssl pkcs12 -export`` for Java-style providers; the new password opens it, no other."""
    result = formats.convert(tutorial_inputs(tutorial), "p12", out_password="n3w")
    (item,) = result.files
    assert (item.name, item.private) == ("ck.p12", True)
    path = tmp_path / item.name
    path.write_bytes(item.data)
    info = openssl("pkcs12", "-in", str(path), "-passin", "pass:n3w", "-nodes")
    assert info.returncode == 0, info.stderr
    assert f"Apple Development IOS Push Services: {BUNDLE}".encode() in info.stdout
    assert b"BEGIN CERTIFICATE" in info.stdout and b"BEGIN PRIVATE KEY" in info.stdout
    assert openssl("pkcs12", "-in", str(path), "-passin", f"pass:{PW}", "-nodes").returncode != 0
    _key, cert = pki.load_p12(item.data, "n3w")
    assert cert is not None and pki.cert_to_der(cert) == tutorial["cer"].read_bytes()
    assert "openssl pkcs12 -export -in cert.pem -inkey key.pem" in result.openssl[-1]


def test_p12_output_needs_a_password(tutorial: dict[str, Path]) -> None:
    """A .p12 carries the private key: it is never written unprotected."""
    with pytest.raises(formats.ExportError, match="--out-password"):
        formats.convert(tutorial_inputs(tutorial), "p12")


def test_wrong_or_missing_p12_password(tutorial: dict[str, Path]) -> None:
    """docs/device-side.md §5 step 2: Push.p12 is password-protected; a wrong password is a clear refusal."""
    with pytest.raises(formats.ExportError, match=r"^Push\.p12: wrong password"):
        formats.convert(tutorial_inputs(tutorial, "not-it"), "pem")
    with pytest.raises(formats.ExportError, match="password-protected"):
        formats.convert(tutorial_inputs(tutorial, None), "pem")


def test_key_must_match_the_certificate(tutorial: dict[str, Path]) -> None:
    """docs/apns-protocol.md §6: a key from another CSR cannot complete the TLS handshake, so refuse it now."""
    _, other_p12 = pki.make_keychain_request(email="x@example.com", common_name="Other", password=PW)
    inputs = formats.Inputs(cer=tutorial["cer"].read_bytes(), p12=other_p12, password=PW)
    with pytest.raises(formats.ExportError, match=r"does not match the certificate in aps_development\.cer"):
        formats.convert(inputs, "pem")


def test_key_only_p12_needs_the_certificate(tutorial: dict[str, Path]) -> None:
    """The Keychain export holds only the key (§5 step 2); the .cer comes from the portal."""
    with pytest.raises(formats.ExportError, match="holds only a private key"):
        formats.convert(formats.Inputs(p12=tutorial["p12"].read_bytes(), password=PW), "pem")
    with pytest.raises(formats.ExportError, match="Nothing to convert"):
        formats.convert(formats.Inputs(cer=tutorial["cer"].read_bytes()), "pem")


def test_ec_key_and_pem_certificate(authority: pki.Authority, tmp_path: Path) -> None:
    """Whatever the CSR holds (RSA or EC): a PEM certificate plus a PEM P-256 key pack into a .p12."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])).sign(key, hashes.SHA256()))
    cert = pki.issue_push_certificate(authority, csr.public_bytes(serialization.Encoding.PEM), bundle_id=BUNDLE,
                                      team_id=TEAM, environment="universal", now=NOW)
    result = formats.convert(formats.Inputs(cer=pki.cert_to_pem(cert), cer_name="cert.pem",
                                          key=pki.key_to_pem(key), key_name="ec.pem"), "p12", out_password="pw")
    assert result.environment == "universal" and result.openssl[0] == "openssl x509 -in cert.pem -out cert.pem"
    path = tmp_path / "ck.p12"
    path.write_bytes(result.files[0].data)
    info = openssl("pkcs12", "-in", str(path), "-passin", "pass:pw", "-nodes")
    assert info.returncode == 0, info.stderr
    assert f"Apple Push Services: {BUNDLE}".encode() in info.stdout


def test_summary_and_json_name_openssl_and_keep_secrets(tutorial: dict[str, Path]) -> None:
    """The learner sees the equivalent commands; no password appears anywhere in the output."""
    result = formats.convert(tutorial_inputs(tutorial), "p12", out_password="n3w-secret")
    text = result.summary + json.dumps(result.as_json())
    assert PW not in text and "n3w-secret" not in text
    assert "`openssl x509 -inform der -in aps_development.cer -out cert.pem`" in result.summary
    assert "`openssl pkcs12 -in Push.p12 -nocerts -nodes -out key.pem`" in result.summary
    data = result.as_json({"ck.p12": "/out/ck.p12"})
    assert data["files"] == {"combined": "/out/ck.p12"}
    assert (data["format"], data["bundle_id"], data["environment"]) == ("p12", BUNDLE, "sandbox")
    assert int(data["serial"]) == result.serial and data["sources"] == ["aps_development.cer", "Push.p12"]


# -- the command line (in process; files only) ---------------------------------------------------------


def test_cli_writes_pem_files_with_private_modes(
    tutorial: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DESIGN contract 2 style: one JSON object with --json; keys 0600, certificate 0644; no data dir needed."""
    out = tmp_path / "pem"
    code = cli.main(["portal", "export", "--cer", str(tutorial["cer"]), "--p12", str(tutorial["p12"]),
                     "--password", PW, "--format", "pem", "--out-dir", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == {"cert": str(out / "cert.pem"), "key": str(out / "key.pem"),
                             "combined": str(out / "ck.pem")}
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert modes == {"cert.pem": 0o644, "key.pem": 0o600, "ck.pem": 0o600}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Push.p12", "aps_development.cer", "pem"]


def test_cli_plain_output_is_the_lesson(
    tutorial: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["portal", "export", "--p12", str(tutorial["p12"]), "--cer", str(tutorial["cer"]),
                     "--password", PW, "--format", "p12", "--out-password", "x", "--out-dir", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("Packed aps_development.cer + Push.p12") and "openssl pkcs12 -export" in out
    assert (tmp_path / "o" / "ck.p12").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("extra", [["--password", "wrong"], ["--password", PW, "--key", "KEY"]])
def test_cli_errors_are_one_line_exit_2(
    tutorial: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    """Wrong password (and contradictory input) is one line on stderr and exit status 2, no file written."""
    (tmp_path / "k.pem").write_bytes(b"")
    extra = [str(tmp_path / "k.pem") if a == "KEY" else a for a in extra]
    code = cli.main(["portal", "export", "--cer", str(tutorial["cer"]), "--p12", str(tutorial["p12"]), *extra,
                     "--format", "pem", "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("apns-sim portal export: error: ")
    assert not (tmp_path / "o").exists()

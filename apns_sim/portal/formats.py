"""Convert push credentials between the tutorial's file formats, as the classic openssl commands do.

The portal hands out a DER ``.cer`` and Keychain Access exports the private key as a password-protected
``Push.p12``; providers then want PEM (``cert.pem`` + ``key.pem``, or both in one ``ck.pem`` for PHP and
Python style providers) or one combined ``.p12`` (Java style). The tutorials do that with openssl
(docs/device-side.md §5 step 5)::

    openssl x509 -inform der -in aps_development.cer -out cert.pem
    openssl pkcs12 -in Push.p12 -nocerts -nodes -out key.pem
    cat cert.pem key.pem > ck.pem
    openssl pkcs12 -export -in cert.pem -inkey key.pem -out ck.p12

This module is the pure part of ``apns-sim portal export``: bytes in, an :class:`Exported` value out (the
files to write, the equivalent openssl commands, a summary for learners). It refuses what openssl would
get wrong or only complain about later: a key that does not belong to the certificate (the provider's TLS
handshake would fail, docs/apns-protocol.md §6), and a wrong ``.p12`` password. Nothing secret goes into the
summary or the JSON: passwords are never echoed, and the commands prompt for them as openssl does.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.errors import SimError
from apns_sim.portal.service import tutorial_name_note, with_note
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext

FORMATS = ("pem", "p12")
CERT_PEM, KEY_PEM, COMBINED_PEM, COMBINED_P12 = "cert.pem", "key.pem", "ck.pem", "ck.p12"


class ExportError(SimError):
    """The inputs cannot be converted; the message says which file and what to do (one line)."""


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What the user handed over: the bytes of each file and its name (the name is for the openssl lines).

    Accepted shapes: ``cer`` + ``p12`` (the tutorial's pair: the portal's certificate and the key-only
    Keychain export), ``p12`` alone (certificate and key in one), or ``cer`` + ``key`` (PEM key).
    ``password`` opens the ``.p12`` (or an encrypted PEM key); it is never repeated in any output.
    """

    cer: bytes | None = None
    cer_name: str = "aps_development.cer"
    p12: bytes | None = None
    p12_name: str = "Push.p12"
    key: bytes | None = None
    key_name: str = "key.pem"
    password: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutputFile:
    """One file to write. ``private`` files hold a key and are written 0600."""

    name: str
    data: bytes
    private: bool
    role: str  # "cert" | "key" | "combined"


@dataclass(frozen=True, kw_only=True)
class Exported:
    """The converted credentials: files to write, what they are for, and the openssl equivalent."""

    format: str  # "pem" | "p12"
    files: tuple[OutputFile, ...]
    openssl: tuple[str, ...]
    sources: tuple[str, ...]
    subject_cn: str
    bundle_id: str | None
    environment: str | None
    serial: int
    not_after: datetime

    @property
    def summary(self) -> str:
        what = (_("the {environment} push certificate for {bundle_id}").format(
                    environment=self.environment, bundle_id=self.bundle_id) if self.bundle_id
                else _("the certificate {name!r}, which is not an APNs push certificate,").format(name=self.subject_cn))
        inputs = " + ".join(self.sources)
        commands = "; ".join(f"`{c}`" for c in self.openssl)
        if self.format == "pem":
            text = _("Converted {inputs}, {what} and its key, into PEM: {cert_pem}, {key_pem} (unencrypted, 0600) "
                     "and {combined} (certificate then key, 0600), as {commands} do. Give a provider --cert "
                     "{cert_pem} --key {key_pem}, or {combined} alone; keep the key files private.").format(
                inputs=inputs, what=what, cert_pem=CERT_PEM, key_pem=KEY_PEM, combined=COMBINED_PEM,
                commands=commands)
        else:
            text = _("Packed {inputs}, {what} and its key, into one password-protected {combined} (0600), as "
                     "{commands} do (openssl prompts for the passwords). Java-style providers load it with that "
                     "password.").format(inputs=inputs, what=what, combined=COMBINED_P12, commands=commands)
        return with_note(text, next((n for n in map(tutorial_name_note, self.sources) if n), ""))

    def as_json(self, paths: dict[str, str] | None = None) -> dict[str, Any]:
        """Machine-readable result; ``paths`` maps each output file name to where it was written."""
        paths = paths or {}
        return {
            "format": self.format,
            "files": {f.role: paths.get(f.name, f.name) for f in self.files},
            "bundle_id": self.bundle_id, "environment": self.environment, "serial": str(self.serial),
            "not_after": self.not_after.isoformat(), "sources": list(self.sources),
            "openssl": list(self.openssl), "summary": self.summary,
        }


def _q(name: str) -> str:
    return shlex.quote(name)


def _public_der(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo))


def _open_p12(inputs: Inputs) -> tuple[pki.PrivateKey, x509.Certificate | None]:
    assert inputs.p12 is not None
    try:
        return pki.load_p12(inputs.p12, inputs.password)
    except pki.PkiError as exc:
        message = str(exc)
        if "wrong password" in message and not inputs.password:
            message = _("it is password-protected; give the password chosen when it was exported (--password).")
        raise ExportError(f"{inputs.p12_name}: {message[0].lower()}{message[1:]}") from None


def _certificate(data: bytes, name: str) -> tuple[x509.Certificate, bool]:
    """The certificate and whether it was DER (Apple's download) rather than PEM."""
    try:
        return pki.load_certificate(data), not data.lstrip().startswith(b"-----BEGIN")
    except pki.PkiError as exc:
        raise ExportError(f"{name}: {exc}") from None


def _read_pair(inputs: Inputs) -> tuple[x509.Certificate, pki.PrivateKey, list[str], list[str]]:
    """(certificate, key, openssl lines that make cert.pem and key.pem, source names)."""
    cert_lines: list[str] = []
    key_lines: list[str] = []
    p12_cert: x509.Certificate | None = None
    if inputs.p12 is not None and inputs.key is not None:
        raise ExportError(_("Give the private key once: either --p12 or --key, not both."))
    if inputs.p12 is not None:
        key, p12_cert = _open_p12(inputs)
        key_lines.append(f"openssl pkcs12 -in {_q(inputs.p12_name)} -nocerts -nodes -out {KEY_PEM}")
    elif inputs.key is not None:
        try:
            key = pki.load_private_key(inputs.key, inputs.password)
        except pki.PkiError as exc:
            raise ExportError(f"{inputs.key_name}: {exc}") from None
        key_lines.append(f"openssl pkey -in {_q(inputs.key_name)} -out {KEY_PEM}")
    else:
        raise ExportError(_("Nothing to convert: give --cer FILE.cer with --p12 Push.p12 (the tutorial's pair), or "
                            "one --p12 holding certificate and key."))
    if inputs.cer is not None:
        cert, was_der = _certificate(inputs.cer, inputs.cer_name)
        inform = "-inform der " if was_der else ""
        cert_lines.append(f"openssl x509 {inform}-in {_q(inputs.cer_name)} -out {CERT_PEM}")
        sources = [inputs.cer_name]
    elif p12_cert is not None:
        cert = p12_cert
        cert_lines.append(f"openssl pkcs12 -in {_q(inputs.p12_name)} -clcerts -nokeys -out {CERT_PEM}")
        sources = []
    else:
        raise ExportError(_("{p12} holds only a private key (the Keychain export); give the certificate from the "
                            "portal too: --cer aps_development.cer (the tutorial's aps_developer_identity.cer)."
                            ).format(p12=inputs.p12_name))
    sources.append(inputs.p12_name if inputs.p12 is not None else inputs.key_name)
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        key_src = inputs.p12_name if inputs.p12 is not None else inputs.key_name
        cert_src = inputs.cer_name if inputs.cer is not None else inputs.p12_name
        raise ExportError(_(
            "The private key in {key_src} does not match the certificate in {cert_src}: the certificate was issued "
            "for a CSR made with another key. Use the .p12 exported from the same Keychain entry that made the CSR "
            "you uploaded, or issue a new certificate from this key's CSR.").format(key_src=key_src, cert_src=cert_src))
    return cert, key, cert_lines + key_lines, sources


def _describe(cert: x509.Certificate) -> tuple[str, str | None, str | None]:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else cert.subject.rfc4514_string()
    try:
        ident = pki.push_identity(cert)
    except pki.PkiError:
        return cn, None, None
    return cn, ident.bundle_id, ident.environment


def convert(inputs: Inputs, fmt: str, *, out_password: str | None = None) -> Exported:
    """Read ``inputs``, check that key and certificate belong together, and produce ``fmt`` ("pem"/"p12")."""
    if fmt not in FORMATS:
        raise ExportError(_("Unknown format {fmt!r}: choose pem or p12.").format(fmt=fmt))
    if fmt == "p12" and not out_password:
        raise ExportError(_("A .p12 carries the private key: protect it with --out-password (openssl pkcs12 "
                            "-export asks for an export password too)."))
    cert, key, lines, sources = _read_pair(inputs)
    cert_pem, key_pem = pki.cert_to_pem(cert), pki.key_to_pem(key)
    cn, bundle_id, environment = _describe(cert)
    files: tuple[OutputFile, ...]
    if fmt == "pem":
        files = (
            OutputFile(name=CERT_PEM, data=cert_pem, private=False, role="cert"),
            OutputFile(name=KEY_PEM, data=key_pem, private=True, role="key"),
            OutputFile(name=COMBINED_PEM, data=cert_pem + key_pem, private=True, role="combined"),
        )
        lines.append(f"cat {CERT_PEM} {KEY_PEM} > {COMBINED_PEM}")
    else:
        if inputs.p12 is not None and inputs.cer is None:
            # Re-protecting a combined .p12 is one pkcs12 round trip in openssl, too.
            lines = [f"openssl pkcs12 -in {_q(inputs.p12_name)} -nodes -out {COMBINED_PEM}",
                     f"openssl pkcs12 -export -in {COMBINED_PEM} -out {COMBINED_P12}"]
        else:
            lines.append(f"openssl pkcs12 -export -in {CERT_PEM} -inkey {KEY_PEM} -name {_q(cn)} "
                         f"-out {COMBINED_P12}")
        files = (OutputFile(name=COMBINED_P12, data=pki.export_p12(cert, key, out_password, name=cn),
                            private=True, role="combined"),)
    return Exported(format=fmt, files=files, openssl=tuple(lines), sources=tuple(sources), subject_cn=cn,
                    bundle_id=bundle_id, environment=environment, serial=cert.serial_number,
                    not_after=cert.not_valid_after_utc)

"""`apns-sim portal` with the tutorial's file names, as a learner types them (docs/device-side.md §5 items 4-5;
docs/cli.md, `apns-sim portal`): ``cert issue --out aps_developer_identity.cer`` and ``export --cer
aps_developer_identity.cer`` work, and the portal says once that it is today's ``aps_development.cer``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TEAM, BUNDLE, PW = "ABCDE12345", "com.example.pushchat", "pushchat"
NOTE = "aps_developer_identity.cer is the tutorial's name for today's aps_development.cer"


def portal(data: Path, *args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PUSHSIM_LANG": lang}
    proc = subprocess.run([sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(data), *args],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_tutorials_certificate_name_is_accepted_and_explained_once(tmp_path: Path, lang: str) -> None:
    data, files = tmp_path / "apns", tmp_path / "files"
    portal(data, "csr", "--email", "dev@example.com", "--common-name", "PushChat", "--password", PW,
           "--out-dir", str(files), "--create", lang=lang)
    portal(data, "app-id", "create", BUNDLE, "--team-id", TEAM, lang=lang)
    cer = files / "aps_developer_identity.cer"
    issued = portal(data, "cert", "issue", "--app-id", BUNDLE, "--csr", str(files / "Push.certSigningRequest"),
                    "--environment", "sandbox", "--out", str(cer), lang=lang)
    listed = json.loads(portal(data, "cert", "list", "--json").stdout)["certificates"]
    assert [c["fingerprint_sha256"] for c in listed] == [hashlib.sha256(cer.read_bytes()).hexdigest()]
    exported = portal(data, "export", "--cer", str(cer), "--p12", str(files / "Push.p12"), "--password", PW,
                      "--format", "pem", "--out-dir", str(files), lang=lang)
    assert (files / "ck.pem").read_bytes() == (files / "cert.pem").read_bytes() + (files / "key.pem").read_bytes()
    assert "openssl x509 -inform der -in aps_developer_identity.cer -out cert.pem" in exported.stdout
    for out in (issued.stdout, exported.stdout):
        assert out.count("aps_developer_identity.cer") >= 1 and out.count("aps_development.cer") == 1
    if lang == "en":
        assert issued.stdout.count(NOTE) == 1 and exported.stdout.count(NOTE) == 1
        assert "iOS Provisioning Portal" in issued.stdout and "Development Push SSL Certificate" in issued.stdout
    else:
        assert "教程里的文件名" in issued.stdout and "教程里的文件名" in exported.stdout
        assert "iOS 配置门户（iOS Provisioning Portal）" in issued.stdout

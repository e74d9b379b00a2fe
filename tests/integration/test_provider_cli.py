"""`apns-provider send` and `serve` as real processes against the in-test fake APNs (docs/architecture.md contract
4)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.h2_fake_apns import Answer, FakeAPNs

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ab" * 32
APP = "com.example.app"


@pytest.fixture
def client_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "client.pem"
    ca.issue_cert("push-client.example").private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provider.cli",
        *args,
        env=_env(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_send_prints_one_json_line_and_exits_0(ca, ca_file, client_pem) -> None:
    async with FakeAPNs(ca) as apns:
        code, out, err = await _cli(
            "send",
            "--endpoint",
            apns.url,
            "--ca",
            str(ca_file),
            "--cert",
            str(client_pem),
            "--topic",
            APP,
            "--token",
            TOKEN,
            "--alert",
            "Hello",
            "--priority",
            "10",
            "--collapse-id",
            "c",
        )
    assert code == 0, err
    (line,) = out.splitlines()
    answer = json.loads(line)
    (rec,) = apns.received
    assert answer == {"status": 200, "apns_id": rec.headers["apns-id"]}
    assert rec.json == {"aps": {"alert": "Hello"}} and rec.headers["apns-collapse-id"] == "c"


async def test_send_410_prints_reason_and_timestamp_and_exits_1(ca, ca_file, client_pem) -> None:
    gone = Answer(410, "Unregistered", timestamp=1_700_000_000_000)
    async with FakeAPNs(ca, handler=lambda _: gone) as apns:
        code, out, _ = await _cli(
            "send",
            "--endpoint",
            apns.url,
            "--ca",
            str(ca_file),
            "--cert",
            str(client_pem),
            "--topic",
            APP,
            "--token",
            TOKEN,
            "--payload",
            '{"aps": {"badge": 2}}',
            "--apns-id",
            "123e4567-e89b-12d3-a456-426614174000",
        )
    assert code == 1
    assert json.loads(out) == {
        "status": 410,
        "apns_id": "123e4567-e89b-12d3-a456-426614174000",
        "reason": "Unregistered",
        "timestamp": 1_700_000_000_000,
    }


async def test_send_with_a_p8_token(ca, ca_file, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    p8 = tmp_path / "AuthKey_ABC123DEFG.p8"
    p8.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    async with FakeAPNs(ca, gate=True, jwt_key=key.public_key()) as apns:
        code, out, err = await _cli(
            "send",
            "--endpoint",
            apns.url,
            "--ca",
            str(ca_file),
            "--p8",
            str(p8),
            "--key-id",
            "ABC123DEFG",
            "--team-id",
            "TEAM123456",
            "--topic",
            APP,
            "--token",
            TOKEN,
            "--alert",
            "Hi",
        )
    assert code == 0, err
    assert json.loads(out)["status"] == 200
    assert apns.received[0].headers["authorization"].startswith("bearer ")


async def test_send_without_an_answer_exits_1_with_one_line(ca_file, client_pem) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = await _cli(
        "send",
        "--endpoint",
        f"https://127.0.0.1:{port}",
        "--ca",
        str(ca_file),
        "--cert",
        str(client_pem),
        "--topic",
        APP,
        "--token",
        TOKEN,
        "--alert",
        "x",
    )
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "no answer from APNs" in err


async def test_serve_registers_and_sends(ca, ca_file, client_pem, tmp_path: Path) -> None:
    async with FakeAPNs(ca) as apns:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "provider.cli",
            "serve",
            "--db",
            str(tmp_path / "p.db"),
            "--port",
            "0",
            "--endpoint",
            apns.url,
            "--ca",
            str(ca_file),
            "--cert",
            str(client_pem),
            "--api-key",
            "k",
            env=_env(),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            url = json.loads(line)["url"]
            assert url.startswith("http://127.0.0.1:")
            async with aiohttp.ClientSession() as http:
                r = await http.post(
                    f"{url}/v1/devices",
                    json={"token": TOKEN, "bundle_id": APP, "environment": "sandbox", "user_id": "u1"},
                )
                assert r.status == 201
                r = await http.post(
                    f"{url}/v1/notifications",
                    json={"bundle_id": APP, "alert": "hello"},
                    headers={"Authorization": "Bearer k"},
                )
                (result,) = (await r.json())["results"]
            assert result["status"] == 200 and result["apns_id"] == apns.received[0].headers["apns-id"]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert code == 0, err
    assert "Traceback" not in err and "Bearer k" not in err

"""The provider API's knobs over the wire: what a replaced token answers, and the per-token rate limit.

Real TLS and HTTP/2 on 127.0.0.1 with curl (verifying the simulator's CA) and a provider token (JWT).
One test drives the in-process Simulator API, the other the ``apns-sim serve`` process with its CLI flags.
Sections cited are those of docs/apns-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from apns_sim.model.registry import Registry
from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from apns_sim.state import DB_NAME, SimConfig

BUNDLE = "com.example.knobs"
TEAM = "KNOBTEAM01"
CURL = "/usr/bin/curl"
ROOT = Path(__file__).resolve().parents[2]


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _bearer(p8: bytes, key_id: str, now: float) -> str:
    return jwt.encode({"iss": TEAM, "iat": int(now)}, p8, algorithm="ES256", headers={"kid": key_id})


async def _curl_many(url: str, count: int, ca: str, bearer: str) -> list[tuple[int, dict[str, object]]]:
    """``count`` POSTs on one HTTP/2 connection (curl reuses it); (status, JSON body or {}) for each."""
    args = ["--http2", "-sS", "--max-time", "20", "--cacert", ca, "-H", f"authorization: bearer {bearer}",
            "-H", f"apns-topic: {BUNDLE}", "-H", "apns-push-type: alert", "-d", '{"aps":{"alert":"hi"}}',
            "-w", "\\n%{http_code}\\n"]
    proc = await asyncio.create_subprocess_exec(CURL, *args, *([url] * count), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    results = []
    for body, status in zip(lines[0::2], lines[1::2], strict=True):
        results.append((int(status), json.loads(body) if body else {}))
    return results


@pytest.mark.parametrize(("knob", "status", "reason"), [
    ("ExpiredToken", 410, "ExpiredToken"), ("BadDeviceToken", 400, "BadDeviceToken")])
async def test_replaced_token_answers_what_the_knob_says(tmp_path: Path, knob: str, status: int,
                                                         reason: str) -> None:
    """§4.3/§8: a token replaced by a newer one (restore, erase) answers BadDeviceToken (default) or,
    with ``replaced_token_reason="ExpiredToken"``, 410 ExpiredToken carrying a timestamp (§4.1: 410 bodies do)."""
    async with Simulator(tmp_path / "sim", SimConfig(replaced_token_reason=knob)) as sim:
        state = sim.state
        assert state is not None and sim.sandbox is not None
        portal = Portal(state.registry, state.authority, state.clock.now)
        portal.create_app_id(BUNDLE, TEAM)
        key = portal.create_auth_key(TEAM)
        now = state.clock.now()
        state.registry.activate_device("dev-1", "iPhone", now)
        old = state.registry.app_token("dev-1", BUNDLE, "sandbox", now).token
        bearer = _bearer(key.p8, key.key_id, state.clock.time())
        ca = str(state.ca_file)
        assert (await _curl_many(f"{sim.sandbox.url}/3/device/{old}", 1, ca, bearer))[0][0] == 200
        state.registry.replace_tokens("dev-1", state.clock.now())  # a token-change event
        new = state.registry.app_token("dev-1", BUNDLE, "sandbox", state.clock.now()).token
        assert new != old
        (got_status, body), = await _curl_many(f"{sim.sandbox.url}/3/device/{old}", 1, ca, bearer)
        assert (got_status, body["reason"]) == (status, reason)
        assert ("timestamp" in body) == (status == 410)
        assert (await _curl_many(f"{sim.sandbox.url}/3/device/{new}", 1, ca, bearer))[0][0] == 200


def test_replaced_token_reason_is_checked() -> None:
    with pytest.raises(ValueError, match="BadDeviceToken, ExpiredToken"):
        SimConfig(replaced_token_reason="Unregistered")


async def test_token_rate_limit_flag_answers_too_many_requests(tmp_path: Path) -> None:
    """§4.3: 429 TooManyRequests past ``--token-rate-limit`` pushes per second to one token (here 2);
    the ``apns-sim serve`` process with its flags, a token minted in its data dir."""
    data = tmp_path / "sim"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(data), "--token-rate-limit", "2",
        "--replaced-token-reason", "ExpiredToken", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        endpoints = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        portal = [sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(data)]
        await _run(*portal, "app-id", "create", BUNDLE, "--team-id", TEAM)
        created = json.loads((await _run(*portal, "key", "create", "--team-id", TEAM, "--out-dir",
                                         str(tmp_path / "keys"))).splitlines()[0])
        p8, key_id = Path(created["path"]).read_bytes(), created["key_id"]
        now = datetime.now(UTC)
        registry = Registry(data / DB_NAME)  # a phone's registration, written to the same state
        try:
            registry.activate_device("dev-1", "iPhone", now)
            token = registry.app_token("dev-1", BUNDLE, "sandbox", now).token
        finally:
            registry.close()
        bearer = _bearer(p8, key_id, now.timestamp())
        results = await _curl_many(f"{endpoints['sandbox']}/3/device/{token}", 6, endpoints["ca_file"], bearer)
        statuses = [status for status, _ in results]
        # Six requests fall in one or two wall-clock seconds: at most 2 per second pass, so 1 to 4 are refused.
        assert statuses.count(200) >= 2 and 1 <= statuses.count(429) <= 4
        assert statuses.count(200) + statuses.count(429) == 6
        assert all(body == {"reason": "TooManyRequests"} for status, body in results if status == 429)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)

"""Fleet mode (issue #5) over real TLS on 127.0.0.1: many phones in one process against the gateway.

The simulator side is the same hand-assembled gateway and activation service as test_gateway_device.py;
every phone verifies the gateway's certificate against the simulator's CA, and the gateway verifies each
phone's device certificate and Connect proof.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apns_sim import courier
from apns_sim.model.registry import ACTIVE
from device_sim.fleet.fleet import Fleet, FleetPhone, FleetProgress
from device_sim.identity.store import DeviceSimError
from tests.integration.test_gateway_device import Sim, _start_sim, inject, stages, wait_for

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "com.example.fleet"
OTHER = "com.example.fleet.other"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[Sim, Path]]:
    s, runner = await _start_sim(tmp_path / "apns")
    endpoints_file = tmp_path / "apns" / "endpoints.json"
    endpoints_file.write_text(json.dumps(s.endpoints))
    yield s, endpoints_file
    await runner.cleanup()
    await s.gateway.close()
    s.state.close()


async def test_twenty_phones_connect_register_and_one_push_reaches_exactly_one(sim: tuple[Sim, Path]) -> None:
    """Each phone activates, connects, filters and gets its own token; a push reaches only its phone
    (device-side.md §1.5 activation, §1.8 one connection per phone, §1.4 push and ack)."""
    s, endpoints = sim
    progress: list[FleetProgress] = []
    pushed: list[tuple[FleetPhone, courier.Push]] = []
    async with Fleet.open(endpoints, count=20, app=BUNDLE, concurrency=5, progress=progress.append,
                          on_push=lambda phone, push: pushed.append((phone, push))) as fleet:
        assert fleet.connected == 20 and fleet.failed == 0
        assert s.gateway.connection_count == 20
        assert len(fleet.tokens) == 20 and len(set(fleet.tokens)) == 20
        assert len({p.device_id for p in fleet.phones}) == 20
        for token in fleet.tokens:
            record = s.state.registry.get_token(token)
            assert record is not None and record.state == ACTIVE and record.bundle_id == BUNDLE
        assert progress[-1] == FleetProgress("connecting", 20, 20, 0, progress[-1].elapsed)
        assert any(p.phase == "identities" and p.done == 20 for p in progress)

        target = fleet.tokens[7]
        apns_id = inject(s, target)
        await wait_for(lambda: fleet.received == 1)
        phone = fleet.phone_for_token(target)
        assert phone is fleet.phones[7] and phone.received == 1
        assert sum(p.received for p in fleet.phones) == 1
        assert [(p, (push.apns_id or "").upper()) for p, push in pushed] == [(phone, apns_id)]
        await wait_for(lambda: "acknowledged" in stages(s, apns_id))
    assert fleet.connected == 0
    await wait_for(lambda: s.gateway.connection_count == 0)


async def test_two_apps_each_phone_gets_a_token_per_app(sim: tuple[Sim, Path]) -> None:
    """One connection carries every app's topic; each app has its own token (device-side.md §1.8)."""
    s, endpoints = sim
    async with Fleet.open(endpoints, count=3, app=[BUNDLE, OTHER], environment="production") as fleet:
        first, second = fleet.tokens_for(BUNDLE), fleet.tokens_for(OTHER)
        assert len(first) == len(second) == 3 and not set(first) & set(second)
        record = s.state.registry.get_token(second[0])
        assert record is not None and record.environment == "production" and record.bundle_id == OTHER


async def test_state_dir_keeps_the_same_phones_and_tokens(sim: tuple[Sim, Path], tmp_path: Path) -> None:
    """A second run with the state dir is the same phones (no new activation) with the same tokens
    (device-side.md §1.5: the identity persists; §2.4: the token is stable for the same device and app)."""
    s, endpoints = sim
    state_dir = tmp_path / "fleet"
    async with Fleet.open(endpoints, count=4, app=BUNDLE, state_dir=state_dir) as fleet:
        ids, tokens = [p.device_id for p in fleet.phones], set(fleet.tokens)
        with pytest.raises(DeviceSimError, match="another process"):
            async with Fleet.open(endpoints, count=1, app=BUNDLE, state_dir=state_dir):
                pass
    assert (state_dir / "phones.jsonl").stat().st_mode & 0o777 == 0o600
    activated = len(s.state.registry.list_devices())
    async with Fleet.open(endpoints, count=4, app=BUNDLE, state_dir=state_dir) as again:
        assert sorted(p.device_id for p in again.phones) == sorted(ids)
        assert set(again.tokens) == tokens
    assert len(s.state.registry.list_devices()) == activated
    async with Fleet.open(endpoints, count=6, app=BUNDLE, state_dir=state_dir) as bigger:
        assert set(ids) < {p.device_id for p in bigger.phones} and bigger.connected == 6


async def test_a_push_for_a_token_the_phone_lost_is_refused(sim: tuple[Sim, Path]) -> None:
    """A phone acks a push for an app it does not have with status 2, and APNs records the refusal
    (device-side.md §6 rule 13)."""
    s, endpoints = sim
    async with Fleet.open(endpoints, count=2, app=BUNDLE) as fleet:
        phone = fleet.phones[0]
        token = phone.tokens.pop(BUNDLE).hex()  # as if the app were deleted without telling APNs
        apns_id = inject(s, token)
        await wait_for(lambda: "refused" in stages(s, apns_id))
        assert fleet.received == 0


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


async def test_cli_fleet_prints_progress_and_a_summary(sim: tuple[Sim, Path], tmp_path: Path) -> None:
    """`device-sim fleet` connects N phones, prints JSON lines, stops on SIGINT (docs/architecture.md contract 3)."""
    s, endpoints = sim
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_sim.cli", "fleet", "--endpoints", str(endpoints), "--count", "5", "--app",
        BUNDLE, "--state-dir", str(tmp_path / "cli-fleet"), "--concurrency", "3", "--tokens-out",
        str(tmp_path / "tokens.txt"), env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines = []
    while True:
        line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        lines.append(line)
        if line["event"] == "online":
            break
    assert line["connected"] == 5 and line["failed"] == 0 and line["connect_rate"] > 0
    tokens = (tmp_path / "tokens.txt").read_text().split()
    assert line["memory_per_phone_kib"] > 0 and len(set(tokens)) == 5
    assert any(entry["event"] == "progress" for entry in lines)
    assert s.gateway.connection_count == 5
    apns_id = inject(s, tokens[0])
    pushed = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    assert pushed["event"] == "notification" and pushed["apns_id"] == apns_id and pushed["token"] == tokens[0]
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().splitlines()[-1])
    assert summary == {"event": "stopped", "connected": 5, "received": 1, "uptime_s": summary["uptime_s"]}
    await wait_for(lambda: s.gateway.connection_count == 0)


async def test_cli_fleet_duration_and_bad_input(sim: tuple[Sim, Path], tmp_path: Path) -> None:
    """--duration stops by itself; a bad bundle id is the user's error: exit 2, one line."""
    _, endpoints = sim
    args = [sys.executable, "-m", "device_sim.cli", "fleet", "--endpoints", str(endpoints), "--count", "2"]
    proc = await asyncio.create_subprocess_exec(*args, "--app", BUNDLE, "--duration", "0.5", env=_env(),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line)["event"] for line in out.decode().splitlines()]
    assert events[-2:] == ["online", "stopped"]
    proc = await asyncio.create_subprocess_exec(*args, "--app", "com.example.*", env=_env(),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and len(err.decode().strip().splitlines()) == 1 and not out


async def test_cli_fleet_interrupted_while_starting_exits_130_at_once(sim: tuple[Sim, Path]) -> None:
    """Ctrl-C while identities are still being made stops the fleet promptly (a cold start of thousands of
    phones takes minutes), closes what it opened, and says so: exit 130, last line ``interrupted``."""
    s, endpoints = sim
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_sim.cli", "fleet", "--endpoints", str(endpoints), "--count", "3000",
        "--app", BUNDLE, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    assert first["event"] == "progress" and first["phase"] == "identities" and first["done"] < 3000
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 10)  # ~1 s here; 3,000 keys would take ~40 s
    assert proc.returncode == 130, err.decode()
    assert json.loads(out.decode().splitlines()[-1]) == {"event": "interrupted", "phase": "setup"}
    await wait_for(lambda: s.gateway.connection_count == 0)

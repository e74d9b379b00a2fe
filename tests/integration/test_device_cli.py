"""``device-sim`` (docs/architecture.md, contract 3) as a user runs it, against a gateway and activation here.

The command runs as a real process; the simulator side (SimState, DeviceGateway, activation routes) runs in the
test's event loop, so the test can inject pushes and look at the registry directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from apns_sim.model.registry import ACTIVE, UNINSTALLED
from tests.integration.test_gateway_device import Sim, _start_sim, inject

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "com.example.cli"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[Sim, Path]]:
    s, runner = await _start_sim(tmp_path / "apns")
    endpoints_file = tmp_path / "apns" / "endpoints.json"
    endpoints_file.write_text(json.dumps(s.endpoints))
    yield s, endpoints_file
    await runner.cleanup()
    await s.gateway.close()
    s.state.close()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


async def device_sim(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "device_sim.cli", *args, env=_env(),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_register_twice_then_uninstall(sim: tuple[Sim, Path]) -> None:
    s, endpoints = sim
    args = ("register", "--endpoints", str(endpoints), "--app", BUNDLE, "--environment", "sandbox")
    code, out, err = await device_sim(*args)
    assert code == 0, err
    token = json.loads(out)["token"]
    assert s.state.registry.get_token(token).state == ACTIVE  # type: ignore[union-attr]
    assert (endpoints.parent / "device-sim" / "device-key.pem").stat().st_mode & 0o777 == 0o600  # the default
    code, out, _ = await device_sim(*args)
    assert code == 0 and json.loads(out) == {"token": token}

    code, out, err = await device_sim("uninstall", "--endpoints", str(endpoints), "--app", BUNDLE)
    assert code == 0, err
    assert json.loads(out) == {"event": "uninstalled", "bundle_id": BUNDLE, "apns_notified": True}
    assert s.state.registry.get_token(token).state == UNINSTALLED  # type: ignore[union-attr]
    code, _, err = await device_sim("uninstall", "--endpoints", str(endpoints), "--app", BUNDLE)
    assert code == 2 and "not installed" in err and len(err.strip().splitlines()) == 1


async def test_run_prints_events_and_sends_tokens_to_the_provider(sim: tuple[Sim, Path], tmp_path: Path) -> None:
    s, endpoints = sim
    received: list[Any] = []

    async def devices(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True}, status=201)

    provider = web.Application()
    provider.router.add_post("/v1/devices", devices)
    runner = web.AppRunner(provider, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_sim.cli", "run", "--endpoints", str(endpoints),
        "--app", f"{BUNDLE},com.example.b",
        "--types", "alert,badge", "--provider", f"http://127.0.0.1:{runner.addresses[0][1]}",
        "--state-dir", str(tmp_path / "phone"), env=_env(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async def next_event(kind: str) -> dict[str, Any]:
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
                assert line, "device-sim run ended early"
                event = json.loads(line)
                if event["event"] == kind:
                    return event

        registered: dict[str, str] = {}
        while len(registered) < 2:
            event = await next_event("registered")
            registered[event["bundle_id"]] = event["token"]
        apns_id = inject(s, registered[BUNDLE], {"aps": {"alert": "Hello", "sound": "default", "badge": 2}})
        note = await next_event("notification")
        assert note["apns_id"].upper() == apns_id and note["bundle_id"] == BUNDLE
        assert note["presented"] == {"alert": "Hello", "sound": None, "badge": 2}  # sound not registered
        await asyncio.sleep(0.2)
        assert sorted(r["bundle_id"] for r in received) == sorted([BUNDLE, "com.example.b"])
        assert all(r["environment"] == "sandbox" and r["token"] == registered[r["bundle_id"]] for r in received)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 10)
        await runner.cleanup()
    assert proc.returncode == 0


@pytest.mark.parametrize(("args", "match"), [
    (["register", "--endpoints", "/nonexistent/endpoints.json", "--app", BUNDLE, "--environment", "sandbox"],
     "cannot read the endpoints file"),
    (["register", "--endpoints", "{ep}", "--app", "com.*", "--environment", "sandbox"], "not a bundle id"),
    (["register", "--endpoints", "{ep}", "--app", BUNDLE, "--environment", "staging"], "invalid choice"),
    (["run", "--endpoints", "{ep}", "--app", BUNDLE, "--types", "alert,vibrate"], "unknown notification type"),
    (["register", "--endpoints", "{ep}"], "required"),
])
async def test_bad_input_is_one_line_and_exit_2(sim: tuple[Sim, Path], args: list[str], match: str) -> None:
    _, endpoints = sim
    code, _, err = await device_sim(*[a.replace("{ep}", str(endpoints)) for a in args])
    assert code == 2 and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (endpoints.parent / "device-sim").exists()  # refused before touching the phone

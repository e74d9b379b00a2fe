"""Issue 14: no push wedges the phone, none is lost, none is shown twice (real TLS, HTTP/2 and courier sockets).

The simulator runs in the test's loop; pushes go through its provider API with the provider client; the phone
is either a :class:`device_sim.Phone` here or ``device-sim run`` as its own process, stopped (SIGSTOP, it no
longer reads) and killed (SIGKILL) where the promise is about crashes.
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

from apns_sim.faults.rules import FaultRule
from apns_sim.limits import MAX_UNACKED_KEPT
from apns_sim.model import journeys
from device_sim import Phone
from provider.apns import APNsClient, Notification, load_p8
from pushsim.harness import RunningSimulator

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "com.example.nothinglost"
TEAM = "LOSTTEAM01"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path / "sim") as running:
        running.create_app_id(BUNDLE, TEAM)
        yield running


def client_for(sim: RunningSimulator) -> APNsClient:
    key = sim.create_auth_key(TEAM)
    return APNsClient(load_p8(key.p8_path, key.key_id, TEAM), endpoint=sim.sandbox_url, ca_file=sim.ca_file)


def raw(token: str, body: bytes) -> Notification:
    """A notification whose body is sent as given: what a provider without our validator could send."""
    note = Notification(token=token, topic=BUNDLE, payload={"aps": {"alert": "placeholder"}})
    object.__setattr__(note, "_body", body)
    return note


def stages(sim: RunningSimulator, apns_id: str) -> list[str]:
    return sim.stages(apns_id)


async def reach_all(sim: RunningSimulator, ids: list[str], stage: str | tuple[str, ...], timeout: float = 15) -> None:
    wanted = (stage,) if isinstance(stage, str) else stage
    async with asyncio.timeout(timeout):
        while not all(any(s in wanted for s in stages(sim, i)) for i in ids):
            await asyncio.sleep(0.05)


# -- item 2: one push must not cut a phone off ------------------------------------------------------------------

async def test_a_badge_too_big_for_the_phone_is_refused_and_the_phone_stays_connected(
        sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/choices.md "Badge numbers": APNs answers 200 (Apple documents no reason for it); the phone shows no
    badge above MAX_BADGE, says why, keeps its connection, and the next push arrives (on main the phone
    dropped and redialled forever, and nothing arrived again)."""
    events: list[dict[str, Any]] = []
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone, client_for(sim) as client:
        phone.subscribe(events.append)
        app = phone.install_app(BUNDLE)
        token = await app.register()
        result = await client.send(raw(token, b'{"aps":{"alert":"x","badge":4294967296}}'))
        assert result.status == 200
        shown = await app.next_notification(timeout=10)
        assert shown.presentation.badge is None and shown.presentation.alert == "x"
        assert any("above" in why for why in shown.presentation.why_not)
        assert app.badge == 0
        after = await client.send(Notification(token=token, topic=BUNDLE, payload={"aps": {"alert": "after",
                                                                                           "badge": 3}}))
        assert after.status == 200
        assert (await app.next_notification(timeout=5)).payload["aps"]["alert"] == "after"
        assert app.badge == 3
        assert phone.is_connected("sandbox")
    assert [e for e in events if e["event"] == "disconnected"] == []


async def test_a_saved_badge_out_of_range_is_repaired_with_a_warning(
        sim: RunningSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A device.json with a badge the phone cannot encode (hand-edited, or saved by an older version) is
    repaired to 0 on load: the phone connects and receives (on main it never stayed connected again)."""
    state_dir = tmp_path / "phone"
    async with Phone.open(sim.endpoints, state_dir=state_dir) as phone:
        token = await phone.install_app(BUNDLE).register()
    saved = json.loads((state_dir / "device.json").read_text())
    saved["apps"][BUNDLE]["badge"] = 2**40
    (state_dir / "device.json").write_text(json.dumps(saved))
    events: list[dict[str, Any]] = []
    async with Phone.open(sim.endpoints, state_dir=state_dir) as phone, client_for(sim) as client:
        phone.subscribe(events.append)
        app = phone.app(BUNDLE)
        assert app.badge == 0
        await phone.wait_connected("sandbox", timeout=10)
        result = await client.send(Notification(token=token, topic=BUNDLE, payload={"aps": {"alert": "hi"}}))
        assert result.status == 200
        assert (await app.next_notification(timeout=5)).apns_id.lower() == result.apns_id
        assert [e for e in events if e["event"] == "disconnected"] == []
    assert "badge" in caplog.text and "using 0" in caplog.text


# -- item 8: nothing lost, never twice -----------------------------------------------------------------------------

class PhoneProcess:
    """``device-sim run`` as a user runs it; its JSON event lines are read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, sim: RunningSimulator, state_dir: Path) -> PhoneProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "device_sim.cli", "run", "--endpoints", str(sim.endpoints_file), "--app", BUNDLE,
            "--state-dir", str(state_dir), env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.events.append(json.loads(line))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    async def wait(self, kind: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                await asyncio.sleep(0.05)
        return self.of(kind)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader

    def shown(self) -> list[str]:
        return [e["apns_id"].lower() for e in self.of("notification")]


async def online_phone(sim: RunningSimulator, state_dir: Path) -> tuple[PhoneProcess, str]:
    """``device-sim run`` registered and connected, and its app's token."""
    phone = await PhoneProcess.start(sim, state_dir)
    try:
        (registered,) = await phone.wait("registered")
        await phone.wait("connected")
    except BaseException:
        await phone.kill()
        raise
    return phone, registered["token"]


async def send_alerts(sim: RunningSimulator, token: str, count: int) -> list[str]:
    async with client_for(sim) as client:
        results = [await client.send(Notification(token=token, topic=BUNDLE, payload={"aps": {"alert": f"n{i}"}}))
                   for i in range(count)]
    assert [r.status for r in results] == [200] * count
    return [r.apns_id for r in results if r.apns_id is not None]


async def test_pushes_written_to_a_stopped_phone_all_arrive_after_kill_9(
        sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/apns-protocol.md §11 "Written but not acknowledged": a phone that stops reading with 30 pushes
    written to it, then is killed, receives all 30 when it returns, each once; no journey says "replaced"
    (on main it received 1 and 29 were replaced)."""
    state_dir = tmp_path / "phone"
    first, token = await online_phone(sim, state_dir)
    try:
        first.proc.send_signal(signal.SIGSTOP)  # it stops reading: the pushes wait in its socket, unacknowledged
        ids = await send_alerts(sim, token, 30)
        assert len(ids) == 30
        await reach_all(sim, ids, journeys.DELIVERED)
    finally:
        await first.kill()
    await reach_all(sim, ids, journeys.STORED)
    second = await PhoneProcess.start(sim, state_dir)
    try:
        await second.wait("notification", 30)
        await asyncio.sleep(0.3)  # a late duplicate would show here
        assert sorted(second.shown()) == sorted(ids)
        await reach_all(sim, ids, journeys.PRESENTED)
    finally:
        await second.kill()
    assert [i for i in ids if journeys.REPLACED in stages(sim, i)] == []
    assert all(s["kept"] == "in_full" for i in ids for s in sim.notification(i)["journey"]  # type: ignore[index]
               if s["stage"] == journeys.STORED)


async def test_lost_acks_never_show_a_push_twice_across_kill_9(sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/device-side.md §1.10 "Written but not acknowledged": with every ack lost (drop_acks), the phone
    shows 20 pushes; killed and restarted, it gets them again and acknowledges each without showing it; every
    journey says presented (once) and none "replaced"; a later push still arrives (on main: 19 "replaced"
    though presented, and the 20th shown twice)."""
    state_dir = tmp_path / "phone"
    first, token = await online_phone(sim, state_dir)
    try:
        sim.state.faults.add(FaultRule(kind="drop_acks", token=token))
        ids = await send_alerts(sim, token, 20)
        assert len(ids) == 20
        await first.wait("notification", 20)
        await reach_all(sim, ids, journeys.PRESENTED)
        assert all(journeys.ACKNOWLEDGED not in stages(sim, i) for i in ids)  # APNs heard no ack
        sim.state.faults.clear()
    finally:
        await first.kill()
    await reach_all(sim, ids, journeys.STORED)
    second = await PhoneProcess.start(sim, state_dir)
    try:
        await second.wait("duplicate", 20)
        await reach_all(sim, ids, journeys.ACKNOWLEDGED)
        later = await send_alerts(sim, token, 1)
        await second.wait("notification", 1, timeout=5)
        assert second.shown() == later
    finally:
        await second.kill()
    assert sorted(first.shown()) == sorted(ids)
    for i in ids:
        names = stages(sim, i)
        assert names.count(journeys.PRESENTED) == 1 and journeys.REPLACED not in names
        assert names[-1] == journeys.NOT_PRESENTED  # the repeat: acknowledged, reported, not shown
        assert sim.notification(i)["journey"][-1]["duplicate"] is True  # type: ignore[index]


async def test_past_the_bound_unacknowledged_pushes_share_the_one_per_app_slot(
        sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/limits.md §4: a phone that stops reading makes the simulator keep at most MAX_UNACKED_KEPT pushes in
    full; the rest share Apple's one-per-app slot (the newest stays, the others say "replaced": never shown)."""
    extra = 3
    state_dir = tmp_path / "phone"
    first, token = await online_phone(sim, state_dir)
    try:
        first.proc.send_signal(signal.SIGSTOP)
        ids = await send_alerts(sim, token, MAX_UNACKED_KEPT + extra)
        await reach_all(sim, ids, journeys.DELIVERED, timeout=30)
    finally:
        await first.kill()
    await reach_all(sim, ids, journeys.STORED, timeout=30)
    kept = {i: [s.get("kept") for s in sim.notification(i)["journey"]  # type: ignore[index]
                if s["stage"] == journeys.STORED][-1] for i in ids}
    assert list(kept.values()).count("in_full") == MAX_UNACKED_KEPT
    assert sim.state.registry.count_stored() == MAX_UNACKED_KEPT + 1
    assert sum(journeys.REPLACED in stages(sim, i) for i in ids) == extra - 1
    second = await PhoneProcess.start(sim, state_dir)
    try:
        await second.wait("notification", MAX_UNACKED_KEPT + 1, timeout=40)
        assert len(set(second.shown())) == len(second.shown()) == MAX_UNACKED_KEPT + 1
    finally:
        await second.kill()


async def test_device_sim_run_prints_every_push_even_one_nested_near_the_parser_limit(
        sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/device-side.md §1.10 "What the phone reads back": a payload the phone can parse but not print back
    (nested near json's limit) still gives its notification line, and the next push arrives."""
    phone, token = await online_phone(sim, tmp_path / "phone")
    try:
        async with client_for(sim) as client:
            for depth in (400, 960, 990, 2000):
                body = b'{"aps":{"alert":"deep"},"n":' + b"[" * depth + b"]" * depth + b"}"
                assert (await client.send(raw(token, body))).status == 200
        later = await send_alerts(sim, token, 1)
        await phone.wait("notification", 5, timeout=10)
        assert phone.shown()[-1] == later[0] and phone.of("disconnected") == []
    finally:
        await phone.kill()

"""Hypothesis-driven payloads through the provider API to an online phone (issue 14): random JSON in ``aps`` and
custom keys, big numbers, deep nesting, odd unicode. The phone stays connected, presents or refuses each (its
journey ends presented or not_presented), never shows one twice, and an ordinary push still arrives within
a bound (docs/device-side.md §1.10 "What the phone reads back").

The simulator, the phone and the provider client live on an event loop in a thread of their own, started
once; each example sends over real TLS and HTTP/2 and the phone receives over its courier connection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apns_sim.model import journeys
from device_sim import App, Phone
from provider.apns import APNsClient, Notification, load_p8
from pushsim.harness import RunningSimulator

BUNDLE = "com.example.abuse"
TEAM = "ABUSETEAM1"
ARRIVAL_BOUND = 5.0  # seconds for an ordinary push after an odd one (generous for a loaded 2-core machine)
T = TypeVar("T")

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=4), max_leaves=10)
aps_keys = st.sampled_from(["alert", "badge", "sound", "content-available", "mutable-content", "category",
                            "thread-id", "interruption-level", "relevance-score"]) | st.text(max_size=8)
payloads = st.fixed_dictionaries({"aps": st.dictionaries(aps_keys, values, max_size=5) | values},
                                 optional={"custom": values, "\u202e\ud800": values})


class World:
    """The loop thread and what runs on it."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = AsyncExitStack()
        self.events: list[dict[str, Any]] = []
        self.run(self._start(tmp))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, tmp: Path) -> None:
        self.sim = await self.stack.enter_async_context(RunningSimulator.start(tmp / "sim"))
        self.sim.create_app_id(BUNDLE, TEAM)
        self.phone: Phone = await self.stack.enter_async_context(Phone.open(self.sim.endpoints,
                                                                            state_dir=tmp / "phone"))
        self.phone.subscribe(self.events.append)
        self.app: App = self.phone.install_app(BUNDLE, background_mode=True)
        self.token = await self.app.register()
        key = self.sim.create_auth_key(TEAM)
        self.client = await self.stack.enter_async_context(APNsClient(
            load_p8(key.p8_path, key.key_id, TEAM), endpoint=self.sim.sandbox_url, ca_file=self.sim.ca_file))

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def send(self, body: bytes) -> tuple[int, str | None]:
        note = Notification(token=self.token, topic=BUNDLE, payload={"aps": {"alert": "placeholder"}})
        object.__setattr__(note, "_body", body)  # sent as given: no provider-side validation
        result = await self.client.send(note)
        return result.status, result.apns_id

    async def outcome(self, apns_id: str, timeout: float) -> str:
        """The phone's last word on a push: presented or not_presented."""
        async with asyncio.timeout(timeout):
            while True:
                names = self.sim.stages(apns_id)
                done = [n for n in names if n in (journeys.PRESENTED, journeys.NOT_PRESENTED)]
                if done:
                    return done[-1]
                await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("abuse"))
    yield w
    w.close()


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()  # ensure_ascii: lone surrogates travel as \\ud800 escapes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(payload=payloads)
@example(payload={"aps": {"alert": "x", "badge": 4294967296}})
@example(payload={"aps": {"badge": 10**40, "sound": {"critical": 1, "volume": 2**70}}, "k": -(2**90)})
@example(payload={"aps": {"alert": "deep"}, "nest": json.loads("[" * 60 + "]" * 60)})
@example(payload={"aps": {"alert": {"title": "\u0000\ufffe\U0010ffff", "body": ["x"]}, "badge": -1}})
def test_odd_payloads_never_wedge_the_phone(world: World, payload: Any) -> None:
    body = _body(payload)
    status, apns_id = world.run(world.send(body))
    if len(body) > 4096:
        assert status == 413
        return
    assert status == 200 and apns_id is not None
    world.run(world.outcome(apns_id, 10))  # presented or refused, with the reason
    status, ordinary = world.run(world.send(b'{"aps":{"alert":"ordinary"}}'))
    assert status == 200 and ordinary is not None
    assert world.run(world.outcome(ordinary, ARRIVAL_BOUND)) == journeys.PRESENTED
    shown = [e["apns_id"].lower() for e in world.events if e["event"] == "notification"]
    assert len(shown) == len(set(shown))  # never one apns-id twice
    assert [e for e in world.events if e["event"] == "disconnected"] == []
    assert world.phone.is_connected("sandbox")


def test_a_payload_nested_past_the_parser_is_refused_not_fatal(world: World) -> None:
    """Nesting deeper than json.loads goes (RecursionError, not ValueError) is a payload the phone refuses."""
    body = b'{"aps":{"alert":"x"},"n":' + b"[" * 2000 + b"]" * 2000 + b"}"
    status, apns_id = world.run(world.send(body))
    assert status == 200 and apns_id is not None
    assert world.run(world.outcome(apns_id, 10)) == journeys.NOT_PRESENTED
    assert world.phone.is_connected("sandbox")


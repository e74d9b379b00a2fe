"""Every JSON answer of the admin server keeps Chinese readable (docs/admin-api.md §2): "你好", never "\\u4f60".

A real simulator on 127.0.0.1; a Chinese alert is pushed through the console, then the routes that show it are
read as raw bytes (not parsed, so an escape could not hide behind ``json.loads``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pushsim import IPhoneFactory, RunningSimulator

BUNDLE = "com.example.utf8"
HELLO = "你好"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One client for the test; 30 s bounds a route that would hang instead of answering."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    yield session
    await session.close()


async def _raw(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, str, bytes]:
    async with http.get(url, params=params) as response:
        return response.status, response.headers["Content-Type"], await response.read()


def _readable(raw: bytes) -> None:
    assert HELLO.encode("utf-8") in raw, raw[:300]
    assert b"\\u" not in raw, raw[:300]


async def test_json_answers_and_the_event_stream_carry_chinese_as_utf8(
        sim: RunningSimulator, http: aiohttp.ClientSession, iphones: IPhoneFactory) -> None:
    """docs/admin-api.md §2: the log, the long-poll, one notification and the event stream are UTF-8 as is."""
    app = (await iphones(name="UTF-8 iPhone")).install_app(BUNDLE)
    token = await app.register(timeout=5)
    async with http.get(f"{sim.admin_url}/_sim/events", params={"token": token}) as stream:
        assert stream.status == 200
        await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)  # the "ready" frame
        body = {"environment": "sandbox", "device_token": token, "topic": BUNDLE, "push_type": "alert",
                "payload": {"aps": {"alert": {"title": HELLO, "body": HELLO}}}}
        async with http.post(f"{sim.admin_url}/_sim/console/push", json=body) as response:
            answer = await response.json()
            assert response.status == 200 and answer["status"] == 200, answer
        frame = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert frame.startswith(b"event: stage") or b"\nevent: stage" in frame
        _readable(frame)
    await sim.wait_for_notification(apns_id=answer["apns_id"], stage="presented", timeout=5)
    for path, params in (("/_sim/notifications", {}), ("/_sim/notifications/wait", {"token": token}),
                         (f"/_sim/notifications/{answer['apns_id']}", {})):
        status, content_type, raw = await _raw(http, sim.admin_url + path, **params)
        assert status == 200 and content_type == "application/json; charset=utf-8", (path, status, content_type)
        _readable(raw)
        assert HELLO in json.dumps(json.loads(raw), ensure_ascii=False)


async def test_refusals_carry_chinese_as_utf8(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §2: a refusal in the reader's language is readable UTF-8 too (the console's errors)."""
    async with http.post(f"{sim.admin_url}/_sim/console/push", params={"lang": "zh"}, json={}) as response:
        raw = await response.read()
        assert response.status == 400 and response.charset == "utf-8"
    assert b"\\u" not in raw and any(ord(c) > 0x3000 for c in raw.decode("utf-8")), raw
    # A form value quoted back in the error stays as typed.
    body = {"environment": "sandbox", "device_token": "00" * 32, "topic": BUNDLE, "collapse_id": [HELLO],
            "payload": {"aps": {}}}
    async with http.post(f"{sim.admin_url}/_sim/console/push", json=body) as response:
        raw = await response.read()
        assert response.status == 400, raw
    _readable(raw)

"""The admin routes the page reads in its language: the catalog and ``?lang=`` (docs/admin-api.md §2).

A real simulator on 127.0.0.1 with an admin token, read with aiohttp: the catalog is open like the page's
assets, sentences come in the reader's language, and what a program reads (field names, reason words,
values) is the same in both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from pushsim import RunningSimulator

TOKEN = "dashboard-languages-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest_asyncio.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path, admin_token=TOKEN) as running:
        yield running


async def test_the_catalog_is_open_utf8_and_holds_the_chinese_of_every_marked_text(sim: RunningSimulator) -> None:
    """docs/admin-api.md §2: GET /_sim/i18n/{lang}.json needs no token (it holds no data)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.admin_url + "/_sim/i18n/zh.json") as response:
            assert response.status == 200 and response.content_type == "application/json"
            raw = await response.text()
        catalog = json.loads(raw)
        assert catalog["lang"] == "zh"
        assert catalog["messages"]["Stage 1 · Provider"] == "阶段 1 · Provider"
        assert catalog["messages"]["do not retry"] == "不要重试"  # advice.py's words: one domain
        assert "阶段" in raw and "\\u" not in raw  # readable UTF-8, no escapes
        async with http.get(sim.admin_url + "/_sim/i18n/en.json") as response:
            assert (await response.json()) == {"lang": "en", "messages": {}}  # English is the msgid itself
        for name in ("fr.json", "zh", "zh-CN.json", "..%2Fzh.json"):
            async with http.get(sim.admin_url + "/_sim/i18n/" + name) as response:
                assert response.status in (401, 404), name  # not a catalog: no data behind it either way


async def test_sentences_follow_lang_and_what_programs_read_does_not(sim: RunningSimulator) -> None:
    """docs/admin-api.md §2: ?lang=zh translates meaning, action, retry and console errors; the
    reason words and field names stay; an unknown language is 400."""
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(sim.admin_url + "/_sim/reasons") as response:
            english = {r["reason"]: r for r in (await response.json())["reasons"]}
        async with http.get(sim.admin_url + "/_sim/reasons?lang=zh") as response:
            chinese = {r["reason"]: r for r in (await response.json())["reasons"]}
        assert english.keys() == chinese.keys()
        assert english["Unregistered"]["retry"] == "do not retry" and chinese["Unregistered"]["retry"] == "不要重试"
        bad = chinese["BadDeviceToken"]
        assert bad["status"] == 400 and bad["meaning"].startswith("设备令牌")
        async with http.post(sim.admin_url + "/_sim/console/push?lang=zh",
                             json={"device_token": "ab", "environment": "staging"}) as response:
            assert response.status == 400
            assert (await response.json()) == {"error": '"environment" 只能是 "sandbox" 或 "production"'}
        async with http.post(sim.admin_url + "/_sim/console/push",
                             json={"device_token": "ab", "environment": "staging"}) as response:
            assert (await response.json()) == {"error": '"environment" must be "sandbox" or "production"'}
        async with http.get(sim.admin_url + "/_sim/phones?lang=xx") as response:
            assert response.status == 400 and "unknown language" in (await response.json())["error"]
        async with http.get(sim.admin_url + "/_sim/phones?lang=zh-CN") as response:
            assert response.status == 200 and (await response.json()) == {"phones": []}


@pytest.mark.parametrize("path", ["/_sim/reasons?lang=zh", "/_sim/phones?lang=zh"])
async def test_translated_routes_still_ask_for_the_token(sim: RunningSimulator, path: str) -> None:
    """docs/admin-api.md §1.3: ?lang= changes the words, not who may read."""
    async with aiohttp.ClientSession() as http, http.get(sim.admin_url + path) as response:
        assert response.status == 401


async def test_console_body_errors_read_in_the_readers_language(sim: RunningSimulator) -> None:
    """docs/admin-api.md §2: the console's body errors (too deep, not JSON, too big) come in ?lang=, their
    numbers filled in; without ?lang= they stay English."""
    deep = b"[" * 150 + b"]" * 150
    async with aiohttp.ClientSession(headers={**AUTH, "Content-Type": "application/json"}) as http:
        async with http.post(sim.admin_url + "/_sim/console/push?lang=zh", data=deep) as response:
            assert response.status == 400
            said = (await response.json())["error"]
            assert "100" in said and "body nests" not in said and "层" in said, said
        async with http.post(sim.admin_url + "/_sim/console/push?lang=zh", data=b"{not json") as response:
            said = (await response.json())["error"]
            assert response.status == 400 and "JSON" in said and "must be" not in said, said
        async with http.post(sim.admin_url + "/_sim/console/push?lang=zh", data=b" " * 2_000_000) as response:
            said = (await response.json())["error"]
            assert response.status == 413 and "at most" not in said and "字节" in said, said
        async with http.post(sim.admin_url + "/_sim/console/push", data=deep) as response:
            said = (await response.json())["error"]
            assert said.startswith("the body nests ") and said.endswith(" levels deep; at most 100 are read"), said

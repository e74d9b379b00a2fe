"""The issue's attacks from a real Chromium (issue 14, item 3), and the dashboard with a token and odd payloads.

A second aiohttp server on 127.0.0.1, another port (so another origin), serves the attacker's page: its
``fetch(..., {mode: "no-cors"})`` calls with text/plain bodies once moved the clock 30 days, added a fault rule
that failed every push and had the phone present a forged alert. Each must now be refused, with the simulator
unchanged. With ``--admin-token`` the dashboard still works (token in the URL's fragment, or typed into the page),
and a payload too deep to render, or a log that cannot be read, is shown as such (item 5).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from device_sim import App
from provider.apns import APNsClient, Notification, alert, load_pem_pair
from pushsim import IPhoneFactory, RunningSimulator
from tests.integration.test_dashboard_browser import browser  # noqa: F401  (the module's one Chromium)

BUNDLE = "com.example.victim"
TOKEN = "browser-admin-token-0123456789"
TIMEOUT = 10_000
pytestmark = pytest.mark.asyncio(loop_scope="module")

ATTACK = """<!doctype html><meta charset="utf-8"><title>cat pictures</title><script>
(async () => {
  const admin = %(admin)s;
  const sent = [];
  async function post(path, body, options) {
    try {
      await fetch(admin + path, Object.assign({method: 'POST', mode: 'no-cors',
        headers: {'Content-Type': 'text/plain'}, body: JSON.stringify(body)}, options || {}));
      sent.push(path + ': sent');
    } catch (e) { sent.push(path + ': ' + e.message); }
  }
  await post('/_sim/clock', {advance: 2592000});
  await post('/_sim/faults', {kind: 'reason', status: 500});
  await post('/_sim/console/push', {device_token: %(token)s, topic: %(bundle)s,
    payload: {aps: {alert: 'Your account is locked: sign in at evil.example'}}});
  await post('/_sim/reset', {}, {mode: 'cors', headers: {'Content-Type': 'application/json'}});
  window.sent = sent;
  document.title = 'done';
})();
</script>"""


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:  # noqa: F811
    opened: list[BrowserContext] = []
    yield opened
    for context in reversed(opened):
        await context.close()


async def new_page(browser: Browser, contexts: list[BrowserContext]) -> tuple[Page, list[str]]:  # noqa: F811
    """A page in a fresh context, and the console messages it logs (a CSP violation would show there)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                        locale="en-US")  # the page follows navigator.languages
    contexts.append(context)
    page = await context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    return page, messages


@pytest_asyncio.fixture(loop_scope="module")
async def victim(tmp_path: Path) -> AsyncIterator[tuple[RunningSimulator, App, str]]:
    async with RunningSimulator.start(tmp_path / "sim") as sim, IPhoneFactory(sim.endpoints,
                                                                             tmp_path / "iphones") as phones:
        app = (await phones(name="Victim iPhone")).install_app(BUNDLE)
        token = await app.register(timeout=5)
        sim.create_app_id(BUNDLE)
        yield sim, app, token


async def test_a_page_of_another_origin_cannot_move_the_clock_add_faults_or_push(
        browser: Browser, contexts: list[BrowserContext],  # noqa: F811
        victim: tuple[RunningSimulator, App, str]) -> None:
    """docs/admin-api.md §1.2 and §1.4: the issue's no-cors text/plain fetches, from another origin, change nothing."""
    sim, app, token = victim
    attacker = web.Application()
    page_html = ATTACK % {"admin": json.dumps(sim.admin_url), "token": json.dumps(token),
                          "bundle": json.dumps(BUNDLE)}

    async def attack_page(request: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    attacker.router.add_get("/", attack_page)
    runner = web.AppRunner(attacker, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        page, _ = await new_page(browser, contexts)
        await page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        await expect(page).to_have_title("done", timeout=TIMEOUT)
        # Each request left the page (what the browser tells the page differs: an opaque answer, or a failure
        # once Cross-Origin-Resource-Policy forbids it); what counts is the state below.
        assert len(await page.evaluate("window.sent")) == 4
    finally:
        await runner.cleanup()
    assert not sim.clock.frozen and abs(sim.clock.time() - time.time()) < 60
    assert sim.state.faults.to_json()["faults"] == []
    assert sim.notifications() == []
    with pytest.raises(TimeoutError):
        await app.next_notification(timeout=1)


async def test_with_a_token_the_dashboard_takes_it_from_the_url_or_the_form(
        browser: Browser, contexts: list[BrowserContext], tmp_path: Path) -> None:  # noqa: F811
    """docs/dashboard.md §1: #token= is read once and leaves the address bar; a 401 shows the token form."""
    async with RunningSimulator.start(tmp_path / "locked", admin_token=TOKEN) as sim, IPhoneFactory(
            sim.endpoints, tmp_path / "iphones") as phones:
        app = (await phones(name="Locked iPhone")).install_app(BUNDLE)
        token = await app.register(timeout=5)
        bundle = sim.issue_certificate(BUNDLE)
        page, messages = await new_page(browser, contexts)
        await page.goto(f"{sim.admin_url}/#token={TOKEN}")
        await expect(page.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
        assert "token" not in page.url and TOKEN not in page.url
        async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                              ca_file=sim.ca_file) as client:
            result = await client.send(Notification(token=token, topic=BUNDLE, payload=alert("Behind a token")))
        journey = page.locator(f'li.journey[data-apns-id="{result.apns_id}"]')
        await expect(journey.locator('[data-stage="presented"]')).to_have_attribute("data-state", "done",
                                                                                    timeout=TIMEOUT)
        async with page.expect_download() as info:  # the export is fetched with the token, then saved
            await journey.get_by_role("link", name="Export notification").click()
        saved = tmp_path / "export.apns"
        await (await info.value).save_as(saved)
        assert json.loads(saved.read_bytes())["aps"]["alert"] == "Behind a token"
        await expect(page.locator("#phones")).to_contain_text(BUNDLE, timeout=TIMEOUT)

        fresh, fresh_messages = await new_page(browser, contexts)
        await fresh.goto(sim.admin_url + "/")
        form = fresh.get_by_role("form", name="Admin token")
        await expect(form).to_be_visible(timeout=TIMEOUT)
        await expect(fresh.locator("#connection")).to_have_text("waiting for the admin token")
        await fresh.get_by_label("Token", exact=True).fill(TOKEN)
        await fresh.get_by_role("button", name="Use this token").click()
        await expect(fresh.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
        await expect(form).to_be_hidden()
        await expect(fresh.locator(f'li.journey[data-apns-id="{result.apns_id}"]')).to_have_count(1)
        assert await fresh.evaluate("document.cookie") == ""  # the token is not a cookie other ports would get
    assert not [m for m in messages + fresh_messages if "Content Security Policy" in m]


async def test_a_payload_too_deep_to_render_is_shown_as_text_and_a_failed_read_is_an_error(
        browser: Browser, contexts: list[BrowserContext],  # noqa: F811
        victim: tuple[RunningSimulator, App, str]) -> None:
    """docs/dashboard.md §1 and docs/limits.md §3: the row says why; "live" never sits on an unread log."""
    sim, _, token = victim
    page, messages = await new_page(browser, contexts)
    await page.goto(sim.admin_url + "/")
    await expect(page.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
    deep = '{"aps":{"alert":"deep"},"d":' + "[" * 2025 + "1" + "]" * 2025 + "}"
    async with aiohttp.ClientSession() as http, http.post(sim.admin_url + "/_sim/console/push", json={
            "device_token": token, "topic": BUNDLE, "payload": deep}) as response:
        answer: dict[str, Any] = await response.json()
    assert response.status == 200 and answer["status"] == 200
    journey = page.locator(f'li.journey[data-apns-id="{answer["apns_id"]}"]')
    # the payload's own note (the phone may add a second note: why it refused a payload this deep)
    await expect(journey.locator("p.payload-note")).to_contain_text("nested 2026 levels deep", timeout=TIMEOUT)
    await expect(page.locator("#connection")).to_have_text("live")

    broken, _ = await new_page(browser, contexts)
    await broken.route("**/_sim/notifications", lambda route: route.fulfill(
        status=500, content_type="application/json", body='{"error": "boom"}'))
    await broken.goto(sim.admin_url + "/")
    error = broken.locator("#notifications-error")
    await expect(error).to_contain_text("Could not read the notification log", timeout=TIMEOUT)
    await expect(broken.locator("#connection")).not_to_have_text("live")
    await expect(broken.locator("#no-notifications")).to_be_hidden()
    await broken.unroute("**/_sim/notifications")  # the simulator answers again: the page recovers by itself
    await expect(broken.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
    await expect(error).to_be_hidden()
    assert not [m for m in messages if "Content Security Policy" in m]

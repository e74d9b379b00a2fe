"""The dashboard in a real browser (issue #8): Playwright driving Debian's chromium against a running simulator.

Everything is real: the simulator listens on 127.0.0.1 port 0, phones are ``device_sim`` iPhones over the
courier's TLS, pushes come from the real provider client over HTTP/2 and TLS, and the page is the one the
package ships (no CDN). The tests assert what a person sees (text, states, files) and save screenshots.
The browser cannot be downloaded here: it must be at /usr/bin/chromium (CI installs Debian's package); when
it is missing the tests fail and say so, they never skip.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from device_sim import App, Phone
from provider.apns import APNsClient, Notification, Result, alert, load_pem_pair
from pushsim import IPhoneFactory, RunningSimulator

CHROMIUM = Path(os.environ.get("PUSHSIM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUNDLE = "com.example.dashboard"
QUIET = "com.example.quiet"
TIMEOUT = 10_000  # ms, for each visible change
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVENTS = "**/_sim/events*"

# One browser for the module (launching chromium is the slowest step), so every test and fixture here runs
# on the module's event loop; each test still gets its own simulator, phones and browser context.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"chromium is not at {CHROMIUM}: install Debian's package (apt-get install chromium) or set "
                    "PUSHSIM_CHROMIUM; the browser tests need a real browser and cannot download one")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                    args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path / "sim") as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def iphones(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[IPhoneFactory]:
    async with IPhoneFactory(sim.endpoints, tmp_path / "iphones") as factory:
        yield factory


@pytest_asyncio.fixture(loop_scope="module")
async def phone_app(iphones: IPhoneFactory) -> tuple[Phone, App, str]:
    phone = await iphones(name="Demo iPhone")
    app = phone.install_app(BUNDLE)
    return phone, app, await app.register(timeout=5)


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: RunningSimulator) -> AsyncIterator[APNsClient]:
    bundle = sim.issue_certificate(BUNDLE)
    async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as apns:
        yield apns


Opener = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="module")
async def dashboard(browser: Browser, sim: RunningSimulator) -> AsyncIterator[Opener]:
    """Opens the dashboard in a fresh browser context, live; the contexts are closed after the test."""
    opened: list[BrowserContext] = []

    async def open_page(*, events_down: bool = False, **options: Any) -> Page:
        options.setdefault("locale", "en-US")  # the page follows navigator.languages: not this machine's locale
        context = await browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True,
                                            **options)
        opened.append(context)
        page = await context.new_page()
        if events_down:  # the event stream cannot be reached until the test unroutes it
            await page.route(EVENTS, lambda route: route.abort("connectionrefused"))
        await page.goto(sim.admin_url + "/")
        if not events_down:
            await expect(page.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
        return page

    yield open_page
    for context in reversed(opened):
        await context.close()


async def screenshot(page: Page, path: Path) -> None:
    await page.evaluate("window.scrollTo(0, 0)")  # the lane headings are sticky: draw them at the top
    await page.screenshot(path=str(path), full_page=True, animations="disabled")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000, f"{path} is not a real screenshot"


def row(page: Page, apns_id: str | None) -> Any:
    return page.locator(f'li.journey[data-apns-id="{apns_id}"]')


async def send(client: APNsClient, token: str, **kw: Any) -> Result:
    kw.setdefault("payload", alert("Your order shipped", title="Shop", badge=3))
    return await client.send(Notification(token=token, topic=kw.pop("topic", BUNDLE), **kw))


async def test_a_push_is_drawn_lane_by_lane_live_and_a_rejection_says_what_to_do(
        dashboard: Opener, sim: RunningSimulator, phone_app: tuple[Phone, App, str], client: APNsClient,
        iphones: IPhoneFactory, tmp_path: Path) -> None:
    """DESIGN "One notification, end to end"; docs/apns-protocol.md §4.3-§4.4 (reason and advice); device-side §2."""
    phone, _, token = phone_app
    page = await dashboard()
    heads = page.locator(".lane-headings b")  # the tutorial's stages (docs/dashboard.md §3)
    await expect(heads).to_have_text(["Stage 1 · Provider", "Stage 2 · APNs", "Stage 3 · Device", "Stage 3 · App"])
    await expect(page.get_by_text("No notifications yet")).to_be_visible()
    card = page.locator(f'li.card[data-device-id="{phone.device_id}"]')
    await expect(card.get_by_role("heading", name="Demo iPhone")).to_be_visible(timeout=TIMEOUT)
    await expect(card.locator("dd.token")).to_have_text(token)
    await expect(card.get_by_text("Online")).to_be_visible()
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    result = await send(client, token)
    assert result.status == 200
    journey = row(page, result.apns_id)
    presented = journey.locator('[data-stage="presented"]')
    await expect(presented).to_have_attribute("data-state", "done", timeout=TIMEOUT)
    await expect(presented).to_contain_text("Presented: alert “Shop: Your order shipped”")
    await expect(presented).to_contain_text("badge 3")
    for lane, stage in [("Provider", "answer"), ("APNs", "accepted"), ("APNs", "delivered"),
                        ("Device", "acknowledged"), ("App", "handed_to_app")]:
        step = journey.get_by_role("group", name=lane, exact=True).locator(f'[data-stage="{stage}"]')
        await expect(step).to_have_attribute("data-state", "done")
    await expect(journey.locator(".status-pill")).to_have_text("200 accepted")
    await expect(journey.get_by_text("from the provider")).to_be_visible()
    # [sim] AppStatus: the phone reports permission and badge (a legacy app, allowed at register()'s prompt).
    await expect(card.locator("dd.badge")).to_have_text("3 (reported by the phone)", timeout=TIMEOUT)
    await expect(card.locator("dd.permission")).to_have_text("authorized (alert, sound, badge), reported by the phone")
    await expect(card.locator("dd.app-state")).to_have_text("background")

    other = await (await iphones(name="Other iPhone")).install_app(QUIET).register(timeout=5)
    rejected = await send(client, other)  # a token of another app: Apple's DeviceTokenNotForTopic
    assert (rejected.status, rejected.reason) == (400, "DeviceTokenNotForTopic")
    bad = row(page, rejected.apns_id)
    await expect(bad.locator('[data-stage="rejected"] .step-text')).to_have_text(
        "Rejected: DeviceTokenNotForTopic (400)", timeout=TIMEOUT)
    await expect(bad.locator('[data-stage="rejected"]')).to_have_attribute("data-state", "failed")
    advice = bad.get_by_role("note")
    await expect(advice).to_contain_text("The device token belongs to another app than the topic names.")
    await expect(advice).to_contain_text("What to do: Send this token only with its own app's bundle ID")
    await expect(advice).to_contain_text("Retry: do not retry")
    await expect(bad.locator('[data-stage="delivered"]')).to_have_count(0)  # nothing pending after a "no"
    await expect(page.locator("li.journey").first).to_have_attribute("data-apns-id", rejected.apns_id or "")
    assert await page.evaluate("window.__sameDocument === true")  # both rows arrived without a reload
    await expect(page.locator("#announcer")).to_contain_text("DeviceTokenNotForTopic")
    await screenshot(page, tmp_path / "lanes.png")

    # Offline: APNs stores the push and the later steps wait, grey; back online they light up in order (§11).
    await phone.go_offline()
    for _ in range(500):  # the gateway notices the closed connection a moment later
        if not sim.state.delivery.is_online(phone.device_id, "sandbox"):
            break
        await asyncio.sleep(0.01)
    stored = await send(client, token, payload=alert("While you were away"))
    await expect(card.get_by_text("Offline")).to_be_visible(timeout=TIMEOUT)
    waiting = row(page, stored.apns_id)
    await expect(waiting.locator('[data-stage="stored"]')).to_contain_text("Stored: the phone is offline",
                                                                          timeout=TIMEOUT)
    for stage in ("delivered", "acknowledged", "handed_to_app", "presented"):
        await expect(waiting.locator(f'[data-stage="{stage}"]')).to_have_attribute("data-state", "pending")
    await expect(waiting.locator('[data-stage="presented"]')).to_contain_text("Presented to the user (not yet)")
    await phone.go_online(timeout=5)
    await expect(waiting.locator('[data-stage="presented"]')).to_have_attribute("data-state", "done",
                                                                                timeout=TIMEOUT)
    await expect(waiting.locator('[data-stage="delivered"]')).to_contain_text("Delivered to the phone (from storage)")
    times = await waiting.locator(".step time").all_inner_texts()
    assert times == sorted(times) and len(times) == 8  # sent, answered, accepted, stored, delivered, acked, app x2
    assert await page.evaluate("window.__sameDocument === true")


async def test_console_form_sends_a_push_the_phone_receives_and_exports_it(
        dashboard: Opener, sim: RunningSimulator, phone_app: tuple[Phone, App, str], tmp_path: Path) -> None:
    """docs/apns-protocol.md §2-§4: the console's push passes Apple's rules; the journey is marked "console"."""
    _, app, token = phone_app
    sim.create_app_id(BUNDLE)
    page = await dashboard()
    target = page.get_by_label("Phone and app")
    await expect(target.locator("option", has_text=BUNDLE)).to_have_count(1, timeout=TIMEOUT)
    await target.select_option(token)
    await expect(page.get_by_label("Device token")).to_have_value(token)
    await expect(page.get_by_label("Topic (bundle ID)")).to_have_value(BUNDLE)

    editor = page.get_by_label("Payload (JSON)")
    await editor.fill('{"aps": {"alert": "Hi"')  # broken JSON: refused in the page, nothing sent
    await page.get_by_role("button", name="Send push").click()
    await expect(page.get_by_text("The payload is not valid JSON")).to_be_visible()
    await expect(editor).to_have_attribute("aria-invalid", "true")
    await expect(editor).to_be_focused()
    assert sim.notifications() == []

    await editor.fill('{"aps": {"alert": {"title": "Console", "body": "Sent from the form"}, "badge": 7}, "k": 1}')
    await expect(page.locator("#payload-error")).to_be_hidden()
    await page.get_by_role("button", name="Send push").click()
    result = page.locator("#push-result")
    await expect(result).to_contain_text("Accepted (200). apns-id", timeout=TIMEOUT)
    received = await app.next_notification(timeout=5)
    assert received.payload == {"aps": {"alert": {"title": "Console", "body": "Sent from the form"}, "badge": 7},
                                "k": 1}
    apns_id = received.apns_id
    await expect(result).to_contain_text(apns_id)
    journey = row(page, apns_id)
    await expect(journey.locator('[data-stage="presented"]')).to_have_attribute("data-state", "done",
                                                                                timeout=TIMEOUT)
    await expect(journey.locator('[data-stage="sent"]')).to_contain_text("Sent from the console")

    async with page.expect_download() as info:
        await journey.get_by_role("link", name="Export notification").click()
    download = await info.value
    assert download.suggested_filename == f"{BUNDLE}-{apns_id}.apns"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert json.loads(saved.read_bytes()) == {"Simulator Target Bundle": BUNDLE, **received.payload}

    await page.get_by_label("Topic (bundle ID)").fill("com.example.someone-else")  # Apple's answer, advice too
    await page.get_by_role("button", name="Send push").click()
    await expect(result).to_contain_text("Rejected: 400 DeviceTokenNotForTopic", timeout=TIMEOUT)
    await expect(result.get_by_role("note")).to_contain_text("What to do:")
    await screenshot(page, tmp_path / "console.png")


async def test_reconnect_portal_panel_not_presented_and_dark_projector_view(
        dashboard: Opener, sim: RunningSimulator, iphones: IPhoneFactory, client: APNsClient,
        tmp_path: Path) -> None:
    """docs/apns-protocol.md §5-§6 (certificates, keys; no private material); device-side §2 (not presented, why).

    The page starts with its event stream unreachable, then reconnects and catches up on what it missed.
    """
    key = sim.create_auth_key()
    phone = await iphones(name="Quiet iPhone")
    quiet = phone.install_app(BUNDLE, types=("badge",))  # the user allowed badges only
    token = await quiet.register(timeout=5)
    page = await dashboard(color_scheme="dark", events_down=True)
    connection = page.locator("#connection")
    await expect(connection).to_have_text("reconnecting…", timeout=TIMEOUT)
    missed = await send(client, token, payload=alert("Sent while the page was not listening", badge=1))
    await sim.wait_for_notification(apns_id=missed.apns_id, stage="handed_to_app", timeout=5)
    await expect(row(page, missed.apns_id)).to_have_count(0)
    await page.unroute(EVENTS)  # the stream is back: the page reconnects and reads what it missed
    await expect(connection).to_have_text("live", timeout=TIMEOUT)
    await expect(row(page, missed.apns_id).locator('[data-stage="handed_to_app"]')).to_have_attribute(
        "data-state", "done", timeout=TIMEOUT)
    serial = str(sim.state.registry.list_certificates()[0].serial)
    certificates = page.get_by_role("table", name="Push certificates")
    await expect(certificates.get_by_role("row").nth(1)).to_contain_text(serial, timeout=TIMEOUT)
    await expect(certificates).to_contain_text("valid")
    await expect(page.get_by_role("table", name="App IDs")).to_contain_text(BUNDLE)
    await expect(page.get_by_role("table", name="Keys")).to_contain_text(key.key_id)
    assert "PRIVATE KEY" not in await page.content()

    result = await send(client, token, payload=alert("You will not see this"))
    journey = row(page, result.apns_id)
    not_shown = journey.locator('[data-stage="not_presented"]')
    await expect(not_shown).to_have_attribute("data-state", "failed", timeout=TIMEOUT)
    await expect(not_shown).to_contain_text("Not presented:")
    await expect(journey.get_by_role("note")).to_contain_text("Why it was not presented:")
    await expect(journey.locator('[data-stage="presented"]')).to_have_count(0)

    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 20, 23)"  # the dark scheme follows prefers-color-scheme
    size = await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert size >= 20  # projector-sized type at 1600 px
    unlabeled = await page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(e => !(e.labels && e.labels.length)).map(e => e.id)""")
    assert unlabeled == []
    await page.keyboard.press("Tab")  # the skip link comes first and shows when focused
    await expect(page.get_by_role("link", name="Skip to the notifications")).to_be_focused()
    await screenshot(page, tmp_path / "dark.png")


async def test_the_page_loads_with_no_404_and_its_icon_draws_under_the_csp(dashboard: Opener) -> None:
    """docs/dashboard.md §1 "The tab icon": every load once asked for /favicon.ico and got 404. Headless Chromium
    fetches no tab icon itself, so the page draws the icon it names, and asks for /favicon.ico, as a browser
    tab would; both come from our own origin, which the CSP's img-src 'self' allows."""
    failed: list[str] = []
    page = await dashboard()
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    href = await page.locator('link[rel="icon"]').get_attribute("href")
    assert href == "/static/favicon.svg"
    drawn = await page.evaluate("""async (href) => {
        const img = new Image();
        img.src = href;
        await img.decode();
        const ico = await fetch("/favicon.ico");
        return [img.naturalWidth, img.naturalHeight, ico.status, ico.headers.get("content-type")];
    }""", href)
    assert drawn[:3] == [32, 32, 200] and drawn[3].startswith("image/svg+xml")
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("live", timeout=TIMEOUT)
    assert failed == []

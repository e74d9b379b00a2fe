"""The dashboard in Chinese and English, its stage numbers and colours, live tokens and the 1280x800 fit, in a real
browser (docs/dashboard.md §2 to §5).

Playwright drives Debian's chromium against a running simulator with real phones (``device_sim`` over the
courier's TLS) and the real provider client over HTTP/2. Every test saves screenshots under its tmp dir and
checks them: the Chinese page is drawn with a CJK font (the platform fonts Chromium used, asked over CDP), no label
overflows its box, and no English is left among the visible texts. Missing chromium or a missing CJK font fails
the test with the reason (``scripts/test-setup`` installs both); nothing is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, expect

from device_sim import App, Phone
from provider.apns import APNsClient, alert
from pushsim import IPhoneFactory, RunningSimulator
from tests.integration.test_dashboard_browser import (  # noqa: F401  (the same Chromium, simulator and phones)
    BUNDLE,
    browser,
    client,
    iphones,
    phone_app,
    row,
    send,
    sim,
)

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian's fonts-noto-cjk
OTHER = "com.example.other"
TIMEOUT = 10_000  # ms, for each visible change
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HAN = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")  # CJK ideographs and full-width punctuation
# What may stay in Latin letters on the Chinese page: Apple's and the tutorial's technical names, header names,
# push types, units and our own program's name (docs/i18n.md "Chinese for a learner"; docs/glossary.md).
TECHNICAL = re.compile(
    r"apns-[a-z-]+|apns-\*|APNs|iPhone|Provider|App ID|App|Bundle ID|Team ID|Key ID|device token|payload|alert|"
    r"sound|badge|sandbox|production|JSON|HTTP/2|OK|UUID|UNIX|VoIP|UTF-8|POST|JWT|ES256|kid|iss|\.apns|\.p8|"
    r"\.voip|pushsim|background|voip|complication|fileprovider|mdm|liveactivity|location|pushtotalk|widgets|"
    r"controls|iOS Provisioning Portal|Certificates, Identifiers & Profiles|BadDeviceToken|"
    r"DeviceTokenNotForTopic|Unregistered|[a-zA-Z]+Token|authorization|bearer|device-sim run|--admin-token|"
    r"/_sim/[a-z]+|/3/device/<token>|<JWT>|<token>|English|com\.example\.[a-z.]+|[0-9a-fA-F-]{6,}…?|\b[A-Z0-9]{10}\b")

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(autouse=True)
def cjk_font() -> None:
    """Chinese needs a CJK font installed, or it renders as empty boxes: fail with the fix, never skip."""
    if not CJK_FONT.is_file():
        pytest.fail(f"no CJK font at {CJK_FONT}: run scripts/test-setup (it installs Debian's fonts-noto-cjk); "
                    "without it Chinese renders as empty boxes")


Opener = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="module")
async def dashboard(browser: Browser, sim: RunningSimulator) -> AsyncIterator[Opener]:  # noqa: F811
    """Opens the dashboard at ``query`` in a fresh context (``locale`` sets navigator.languages), live."""
    opened: list[BrowserContext] = []

    async def open_page(query: str = "", *, locale: str = "en-US", width: int = 1600, height: int = 1000,
                        **options: Any) -> Page:
        context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale, **options)
        opened.append(context)
        page = await context.new_page()
        await page.goto(sim.admin_url + "/" + query)
        await expect(page.locator("#connection")).to_have_attribute("class", "live", timeout=TIMEOUT)
        return page

    yield open_page
    for context in reversed(opened):
        await context.close()


async def shot(page: Page, path: Path, *, full_page: bool = True) -> Path:
    """A screenshot saved for a person to look at, and checked to be a real image."""
    await page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000, f"{path} is not a real screenshot"
    return path


async def fonts_used(page: Page, selector: str) -> dict[str, int]:
    """The platform fonts Chromium drew ``selector``'s text with, and how many glyphs each (CDP
    CSS.getPlatformFontsForNode): a CJK text drawn without a CJK font shows no CJK family here."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument", {"depth": -1})
    found = await cdp.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": selector})
    fonts = await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": found["nodeId"]})
    await cdp.detach()
    return {f["familyName"]: f["glyphCount"] for f in fonts["fonts"]}


# Every visible text node outside data (translate="no", tokens, code, the payload editor), with its element.
VISIBLE_TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest('[translate="no"], .mono, code, textarea, script, style, time')) continue;
    if (parent.closest('[hidden], .visually-hidden') || !parent.getClientRects().length) continue;
    if (parent.closest('select') && !parent.selected) continue;  // a closed list shows its chosen option only
    out.push(text);
  }
  return out;
}"""

# Labels, buttons, headings and cells whose text is wider than their box (cut off or spilling over).
OVERFLOWING = """() => [...document.querySelectorAll(
    'label, button, th, td, dt, dd, h1, h2, h3, h4, nav a, .lane-heading b, .lane-heading small, .status-pill, ' +
    '.step, .dead-mark, .hint, .empty, option')]
  .filter(e => e.getClientRects().length && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName + '.' + e.className + ': ' + e.textContent.trim().slice(0, 60))"""


def english_left(texts: list[str]) -> list[str]:
    """The texts that still read as English once Chinese and the technical names are set aside."""
    left = []
    for text in texts:
        if HAN.search(text):
            continue
        if re.search(r"[A-Za-z]{2,}", TECHNICAL.sub(" ", text)):
            left.append(text)
    return left


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``rgb(r, g, b)`` colours."""
    def luminance(colour: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_the_page_in_chinese_draws_cjk_glyphs_translates_every_label_and_advises_in_chinese(
        dashboard: Opener, sim: RunningSimulator, phone_app: tuple[Phone, App, str], client: APNsClient,  # noqa: F811
        iphones: IPhoneFactory, tmp_path: Path) -> None:  # noqa: F811
    """docs/dashboard.md §2 and §3; docs/i18n.md "Chinese for a learner";
    docs/apns-protocol.md §4.3-§4.4 (the advice, here in Chinese)."""
    _, _, token = phone_app
    sim.create_auth_key()
    page = await dashboard("?lang=zh")
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    await expect(page.locator(".lane-headings b")).to_have_text(
        ["阶段 1 · Provider", "阶段 2 · APNs", "阶段 3 · 设备（iPhone）", "阶段 3 · 应用（App）"])
    await expect(page.locator("#notifications-heading")).to_have_text("通知，按阶段展示")
    await expect(page.get_by_label("设备令牌（device token）")).to_be_visible()
    await expect(page.locator("#connection")).to_have_text("实时")

    accepted = await send(client, token)
    other = await (await iphones(name="Other iPhone")).install_app(OTHER).register(timeout=5)
    rejected = await send(client, other)  # another app's token: Apple's DeviceTokenNotForTopic
    assert (accepted.status, rejected.status, rejected.reason) == (200, 400, "DeviceTokenNotForTopic")
    good = row(page, accepted.apns_id)
    await expect(good.locator('[data-stage="presented"]')).to_have_attribute("data-state", "done", timeout=TIMEOUT)
    await expect(good.locator('[data-stage="presented"]')).to_contain_text("已展示：提示“Shop: Your order shipped”")
    await expect(good.get_by_role("group", name="APNs", exact=True).locator('[data-stage="delivered"]')).to_have_text(
        re.compile("已送达 iPhone"))
    await expect(good.locator(".status-pill")).to_have_text("200 已接受")
    bad = row(page, rejected.apns_id)
    await expect(bad.locator('[data-stage="rejected"] .step-text')).to_have_text(
        "被拒绝：DeviceTokenNotForTopic（400）", timeout=TIMEOUT)
    advice = bad.get_by_role("note")
    await expect(advice).to_contain_text("这个设备令牌属于另一个应用")
    await expect(advice).to_contain_text("怎么办：")
    await expect(advice).to_contain_text("重试： 不要重试")
    await expect(page.locator("#push-target option", has_text=BUNDLE)).to_have_count(1, timeout=TIMEOUT)
    await expect(page.get_by_role("table", name="签名密钥")).to_contain_text("有效", timeout=TIMEOUT)

    picture = await shot(page, tmp_path / "zh.png")
    fonts = await fonts_used(page, "#notifications-heading")
    assert any("CJK" in name and count > 0 for name, count in fonts.items()), (
        f"the Chinese heading was drawn without a CJK font: {fonts}; see {picture}")
    overflowing = await page.evaluate(OVERFLOWING)
    assert overflowing == [], f"text wider than its box: {overflowing}; see {picture}"
    left = english_left(await page.evaluate(VISIBLE_TEXTS))
    assert left == [], f"English left on the Chinese page: {left}; see {picture}"


async def test_lang_en_wins_over_a_chinese_browser_and_navigator_languages_decide_without_it(
        dashboard: Opener, tmp_path: Path) -> None:
    """docs/dashboard.md §2: ?lang= first, then the switch's choice, then navigator.languages."""
    english = await dashboard("?lang=en", locale="zh-CN")
    assert await english.evaluate("document.documentElement.lang") == "en"
    await expect(english.locator("#notifications-heading")).to_have_text("Notifications, stage by stage")
    await expect(english.locator(".lane-headings b").first).to_have_text("Stage 1 · Provider")
    picture = await shot(english, tmp_path / "en.png")
    left = english_left(await english.evaluate(VISIBLE_TEXTS))
    assert left, f"the English page should read as English; see {picture}"  # the walk tells the two apart
    assert await english.evaluate(OVERFLOWING) == [], f"see {picture}"

    chinese = await dashboard(locale="zh-CN")  # no ?lang=, nothing remembered: the browser's language
    assert await chinese.evaluate("navigator.languages[0]") == "zh-CN"
    await expect(chinese.locator("#notifications-heading")).to_have_text("通知，按阶段展示")
    assert await chinese.evaluate("document.documentElement.lang") == "zh-CN"
    picture = await shot(chinese, tmp_path / "navigator-zh.png")
    assert english_left(await chinese.evaluate(VISIBLE_TEXTS)) == [], f"see {picture}"


async def test_the_switch_changes_the_language_and_is_remembered_in_this_browser(
        dashboard: Opener, sim: RunningSimulator, tmp_path: Path) -> None:  # noqa: F811
    """docs/dashboard.md §2: the switch reloads in the chosen language and localStorage keeps it."""
    page = await dashboard(locale="en-US")
    await expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name="中文").click()
    await expect(page.locator("#notifications-heading")).to_have_text("通知，按阶段展示", timeout=TIMEOUT)
    await expect(page.get_by_role("button", name="中文")).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate("localStorage.getItem('pushsim-lang')") == "zh"
    again = await page.context.new_page()  # same browser profile, plain address: the choice is remembered
    await again.goto(sim.admin_url + "/")
    await expect(again.locator("#notifications-heading")).to_have_text("通知，按阶段展示", timeout=TIMEOUT)
    await shot(again, tmp_path / "switched.png")
    await again.get_by_role("button", name="English").click()
    await expect(again.locator("#notifications-heading")).to_have_text("Notifications, stage by stage",
                                                                       timeout=TIMEOUT)
    assert await again.evaluate("localStorage.getItem('pushsim-lang')") == "en"


async def test_after_uninstall_and_reinstall_only_the_live_token_is_offered_and_the_dead_one_is_marked(
        dashboard: Opener, sim: RunningSimulator, phone_app: tuple[Phone, App, str], tmp_path: Path) -> None:  # noqa: F811
    """docs/dashboard.md §4; docs/device-side.md §3 (a reinstalled app registers a new token; the
    old one answers 410 Unregistered)."""
    phone, _, old = phone_app
    await phone.uninstall(BUNDLE)
    new = await phone.install_app(BUNDLE).register(timeout=5)
    assert new != old
    record = sim.state.registry.get_token(old)
    assert record is not None and record.state == "uninstalled"

    # The console's entry, flat (no brackets inside brackets): phone, app, environment and the token's start.
    labels = {"en": f"Demo iPhone: {BUNDLE} · sandbox · token {new[:8]}…",
              "zh": f"Demo iPhone：{BUNDLE} · 开发环境（sandbox） · 令牌 {new[:8]}…"}
    for lang, dead_text, send_text in (("en", "uninstalled: APNs answers 410 Unregistered", "Send a test push"),
                                       ("zh", "已卸载：APNs 会应答 410 Unregistered（已注销）", "发送测试推送")):
        page = await dashboard("?lang=" + lang)
        options = page.locator("#push-target option[value]:not([value=''])")
        await expect(options).to_have_count(1, timeout=TIMEOUT)
        assert await options.first.get_attribute("value") == new
        assert await options.first.inner_text() == labels[lang]
        apps = page.locator(f'li.card[data-device-id="{phone.device_id}"] .app-list > li')
        await expect(apps).to_have_count(2)
        await expect(apps.nth(0)).to_have_attribute("data-token", new)
        await expect(apps.nth(0).get_by_role("button", name=re.compile(send_text))).to_have_count(1)
        await expect(apps.nth(1)).to_have_attribute("data-token", old)
        await expect(apps.nth(1).locator(".dead-mark")).to_have_text(dead_text)
        await expect(apps.nth(1).get_by_role("button")).to_have_count(0)  # no test push to a dead token
        await page.locator("#phones-heading").scroll_into_view_if_needed()
        await shot(page, tmp_path / f"live-tokens-{lang}.png")


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_three_notifications_fit_the_first_screen_at_1280_by_800(
        lang: str, dashboard: Opener, phone_app: tuple[Phone, App, str], client: APNsClient,  # noqa: F811
        tmp_path: Path) -> None:
    """docs/dashboard.md §5: with the notifications heading at the top of a 1280x800 window, the three
    newest rows (one a rejection with its advice) are inside the window, each with its stages, times and status."""
    _, _, token = phone_app
    sent = [await send(client, token, payload=alert(f"Order {n} shipped", title="Shop", badge=n)) for n in (1, 2)]
    sent.append(await send(client, "ab" * 32))  # not a token of ours: BadDeviceToken, with its advice
    page = await dashboard("?lang=" + lang, width=1280, height=800)
    for result in sent:
        await expect(row(page, result.apns_id).locator(".step").first).to_be_visible(timeout=TIMEOUT)
    await expect(row(page, sent[1].apns_id).locator('[data-stage="presented"]')).to_have_attribute(
        "data-state", "done", timeout=TIMEOUT)
    await page.evaluate("document.getElementById('notifications-heading').scrollIntoView({block: 'start'})")
    boxes = await page.evaluate("""() => [...document.querySelectorAll('li.journey')].slice(0, 3)
        .map(r => { const b = r.getBoundingClientRect(); return [b.top, b.bottom]; })""")
    picture = await shot(page, tmp_path / f"fit-{lang}.png", full_page=False)
    assert len(boxes) == 3 and all(top >= 0 and bottom <= 800 for top, bottom in boxes), (
        f"rows at {boxes} do not all fit 800 px; see {picture}")
    first = row(page, sent[2].apns_id)  # the newest: the rejection, advice included
    await expect(first.get_by_role("note")).to_contain_text("BadDeviceToken (400)")
    await expect(first.locator(".status-pill")).to_have_text("400 BadDeviceToken")
    interface = {"en": "HTTP/2 provider API", "zh": "HTTP/2 Provider 接口"}[lang]  # which door it came in by
    await expect(first.locator(".interface")).to_have_text(interface)
    for result in sent[:2]:
        await expect(row(page, result.apns_id).locator(".step time")).to_have_count(7)  # every step with its time


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_one_colour_per_stage_readable_in_both_schemes(dashboard: Opener, scheme: str, tmp_path: Path) -> None:
    """docs/dashboard.md §3: provider blue, APNs magenta, device and app green, the
    portal yellow, as in the terminal; WCAG AA (4.5:1) against the panel in light and dark."""
    palette = {"light": ["rgb(31, 95, 191)", "rgb(160, 48, 143)", "rgb(19, 115, 51)", "rgb(19, 115, 51)"],
               "dark": ["rgb(140, 184, 255)", "rgb(241, 154, 228)", "rgb(127, 214, 143)", "rgb(127, 214, 143)"]}
    page = await dashboard(color_scheme=scheme)
    colours = await page.evaluate(
        "[...document.querySelectorAll('.lane-heading b')].map(e => getComputedStyle(e).color)")
    assert colours == palette[scheme]
    panel = await page.evaluate("getComputedStyle(document.querySelector('.journeys-panel')).backgroundColor")
    portal = await page.evaluate("getComputedStyle(document.getElementById('portal-heading')).borderLeftColor")
    assert portal == {"light": "rgb(138, 90, 0)", "dark": "rgb(242, 196, 107)"}[scheme]
    picture = await shot(page, tmp_path / f"colours-{scheme}.png")
    for colour in colours:
        assert contrast(colour, panel) >= 4.5, f"{colour} on {panel}; see {picture}"


async def test_why_a_push_was_not_shown_and_what_a_closed_connection_left_read_in_chinese(
        dashboard: Opener, sim: RunningSimulator, client: APNsClient, iphones: IPhoneFactory,  # noqa: F811
        tmp_path: Path) -> None:
    """docs/dashboard.md §2; docs/device-side.md §2.6 (permission denied: delivered silently) and
    docs/scenarios.md "Teacher mode" (a push held for the presenter is stored when the phone goes away):
    the phone's English reason and APNs's detail read in Chinese, and no English is left on the page."""
    phone = await iphones(name="Denied iPhone")
    app = phone.install_app(BUNDLE, user_response="deny")
    assert await app.request_authorization() is False
    token = await app.register(timeout=5)
    page = await dashboard("?lang=zh")
    silent = await send(client, token)
    quiet = row(page, silent.apns_id)
    await expect(quiet.locator('[data-stage="not_presented"] .step-text')).to_have_text(
        "未展示：用户拒绝了通知权限：静默送达", timeout=TIMEOUT)
    await expect(quiet.locator(".why-not")).to_have_text("为什么没有展示： 用户拒绝了通知权限：静默送达")

    sim.simulator.hold_delivery(True)
    try:
        held = await send(client, token)
        await expect(row(page, held.apns_id).locator('[data-stage="held"]')).to_have_count(1, timeout=TIMEOUT)
        await phone.go_offline()
        kept = row(page, held.apns_id)  # released only once APNs saw the phone go (else it is written again)
        await expect(kept.locator('[data-stage="stored"] .step-text')).to_have_text(
            "已存储：连接关闭时正暂停等待讲解人", timeout=TIMEOUT)
    finally:
        sim.simulator.hold_delivery(False)
    picture = await shot(page, tmp_path / "zh-why-and-held.png")
    left = english_left(await page.evaluate(VISIBLE_TEXTS))
    assert left == [], f"English left on the Chinese page: {left}; see {picture}"
    await phone.go_online()
    await expect(kept.locator('[data-stage="not_presented"] .step-text')).to_have_text(
        "未展示：用户拒绝了通知权限：静默送达", timeout=TIMEOUT)
    # docs/dashboard.md §1: once later stages happened the held step is grey history, no longer waiting.
    held_step = kept.locator('[data-stage="held"]')
    await expect(held_step).to_have_attribute("data-state", "past")
    await expect(held_step.locator(".step-text")).to_have_text("曾暂停等讲解人（教学模式）")


# Each lane title's lines as drawn: characters grouped by the top of their box (a collapsed space joins its line).
TITLE_LINES = """() => [...document.querySelectorAll('.lane-heading b')].map(b => {
  const text = b.firstChild, range = document.createRange(), lines = [];
  let top = null;
  for (let i = 0; i < text.length; i++) {
    range.setStart(text, i); range.setEnd(text, i + 1);
    const box = range.getClientRects()[0];
    if (box && box.width > 0 && (top === null || box.top > top + 2)) { lines.push(''); top = box.top; }
    if (lines.length) lines[lines.length - 1] += text.data[i];
  }
  return lines;
})"""


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_lane_titles_never_break_inside_a_word_or_term(dashboard: Opener, lang: str, tmp_path: Path) -> None:
    """docs/dashboard.md §3: at 1280x800 each stage title is one line; narrower (1024) a title may wrap only
    between words or before its parenthesised Chinese term, never inside "Provider（推送服务器）"."""
    for width, height in ((1280, 800), (1024, 768)):
        page = await dashboard("?lang=" + lang, width=width, height=height)
        titles: list[list[str]] = await page.evaluate(TITLE_LINES)
        picture = await shot(page, tmp_path / f"titles-{lang}-{width}.png", full_page=False)
        assert len(titles) == 4 and all(titles), f"{titles}; see {picture}"
        if width == 1280:
            assert all(len(lines) == 1 for lines in titles), f"a title wraps at 1280: {titles}; see {picture}"
        for lines in titles:
            for before, after in pairwise(lines):
                assert before.endswith(" ") or after.startswith(("（", "(")), (
                    f"a title breaks inside a word: {lines}; see {picture}")
        await page.context.close()


@pytest.mark.parametrize(("lang", "title", "body"), [("en", "Hello", "From the pushsim console"),
                                                     ("zh", "你好", "来自 pushsim 控制台")])
async def test_the_consoles_default_payload_reads_in_the_pages_language(
        dashboard: Opener, lang: str, title: str, body: str) -> None:
    """docs/dashboard.md §1 "Send a test push": the first payload's alert is in the page's language; the JSON
    keys are Apple's and stay; the byte count is the UTF-8 size of what is shown."""
    page = await dashboard("?lang=" + lang)
    area = page.locator("#push-payload")
    shown = await area.input_value()
    assert json.loads(shown) == {"aps": {"alert": {"title": title, "body": body}, "sound": "default", "badge": 1}}
    size = len(shown.encode("utf-8"))
    help_text = await page.locator("#payload-help").inner_text()
    assert str(size) in help_text, (size, help_text)

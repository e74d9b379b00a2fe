"""The page says the phone's reasons and the simulator's details in Chinese (docs/dashboard.md §2; docs/i18n.md).

The phone's ``why`` stays English on the wire (other tools read it) and may join several reasons with "; " or
carry a number; lanes.js's whyText translates it part by part and stepText says each fixed detail from the
dashboard catalog. Node runs the real lanes.js and i18n.js (the import path rewritten to a temporary copy) with
the compiled zh catalog; the reasons come from the real device_sim rules, so a new reason there fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from apns_sim.admin.dashboard import page_catalog
from apns_sim.admin.words import DOMAIN
from device_sim.phone.courier_side import DUPLICATE_WHY
from device_sim.rules import presentation as p
from device_sim.rules.background import BACKGROUND, FORCE_QUIT, BackgroundBudget, BackgroundThrottle
from device_sim.rules.voip import VoipPolicy

HAN = re.compile(r"[\u3400-\u9fff]")
# Apple's names that stay in Latin letters beside their Chinese (docs/glossary.md).
TECHNICAL = re.compile(r"Focus|alert|sound|badge|payload|passive|API|VoIP|CallKit|PushKit|willPresent|apns-id|aps|"
                       r"remote-notification|GOAWAY|last_stream_id|RST_STREAM|MAX_CONCURRENT_STREAMS|SETTINGS|TCP|"
                       r"APNs|iPhone|apns-expiration")


def phone_reasons() -> list[str]:
    """Every kind of not_presented ``why`` the phone writes, made by its own rules and joined as it joins them."""
    def why(presentation: p.Presentation) -> str:
        return "; ".join(presentation.why_not)
    full = {"aps": {"alert": "Hi", "sound": "ding", "badge": 1}}
    shown = p.present(full, p.NOTIFICATION_TYPES)
    throttle: BackgroundThrottle[str] = BackgroundThrottle(BackgroundBudget(per_hour=1, per_day=2))
    throttle.decide("a", state=BACKGROUND, background_mode=True, now=0.0)
    hourly = throttle.decide("b", state=BACKGROUND, background_mode=True, now=1.0).why
    replacing = throttle.decide("c", state=BACKGROUND, background_mode=True, now=2.0).why
    throttle.decide("d", state=BACKGROUND, background_mode=True, now=4000.0)
    daily = throttle.decide("e", state=BACKGROUND, background_mode=True, now=8000.0).why
    voip = VoipPolicy(max_failures=2)
    return [
        why(p.present(full, ())),  # did not register for alerts; sounds; badges
        why(p.present({"aps": {"content-available": 1}}, p.NOTIFICATION_TYPES)),
        why(p.present({"aps": {"category": "x"}}, p.NOTIFICATION_TYPES)),
        why(p.present("text", p.NOTIFICATION_TYPES)), why(p.present(full, (), push_type="voip")),
        why(p.present({"aps": {"alert": 5, "badge": -1}}, p.NOTIFICATION_TYPES)),
        why(p.present({"aps": {"badge": p.MAX_BADGE + 1}}, p.NOTIFICATION_TYPES)),
        why(p.present({"aps": {"sound": "s", "interruption-level": "passive"}}, p.NOTIFICATION_TYPES)),
        why(p.denied(shown)), why(p.provisional(shown)),
        why(p.with_options(shown, frozenset())), why(p.with_options(shown, frozenset({"sound"}))),
        why(p.with_options(shown, frozenset({"list"}))),
        why(p.under_switches(shown, p.Switches(focus=True))), why(p.under_switches(shown, p.Switches(muted=True))),
        why(p.in_foreground_legacy(shown)),
        BackgroundThrottle().decide("x", state=BACKGROUND, background_mode=False, now=0.0).why,
        BackgroundThrottle().decide("x", state=FORCE_QUIT, background_mode=True, now=0.0).why,
        hourly, replacing, daily,
        voip.decide(0, reported=True).why, voip.decide(0, reported=False).why,
        voip.decide(1, reported=False, handled=False).why, voip.stopped_why(2), DUPLICATE_WHY,
    ]


# apns_sim's journey details a closed connection, a batch or a fault leaves (apns_sim/delivery, apns_sim/faults).
DETAILS = [
    ("stored", "held for the presenter when the connection closed"),
    ("stored", "held for a burst when the connection closed"),
    ("stored", "not acknowledged before the connection closed"),
    ("stored", "not acknowledged before the connection closed: kept in full for the next connection"),
    ("discarded", "held for a burst when the connection closed"),
    ("batched", "priority 1: waits for the next burst or priority 10 push to this phone"),
    ("fault", "the phone's courier connection was dropped"),
    ("fault", "processed as usual; the connection's MAX_CONCURRENT_STREAMS was lowered (SETTINGS)"),
]

SCRIPT = """
import {useMessages} from './i18n.js';
import {whyText, stepText} from './lanes.js';
import {WORDS} from './words.js';
const input = JSON.parse(process.argv[2]);
useMessages(input.messages, input.reasons);
console.log(JSON.stringify({
  why: input.why.map(whyText),
  details: input.details.map(([stage, detail]) => stepText({stage, detail, priority: 1})),
  words: WORDS,
}));
"""


def run_page(tmp_path: Path, why: list[str], script: str = SCRIPT, language: str = "zh", **extra: Any) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/test-setup (the page's script runs under it here)")
    static = resources.files("apns_sim.admin").joinpath("static")
    i18n = static.joinpath("i18n.js").read_text(encoding="utf-8")
    (tmp_path / "i18n.js").write_text(i18n + "\nexport function useMessages(table, list) { messages = table; "
                                      "reasonTemplates = list; }\n")
    lanes = static.joinpath("lanes.js").read_text(encoding="utf-8")
    (tmp_path / "lanes.js").write_text(lanes.replace("'/static/i18n.js'", "'./i18n.js'"))
    # dashboard.js runs the page on import; its WORDS table alone is what the Phones panel's word() reads.
    dashboard = static.joinpath("dashboard.js").read_text(encoding="utf-8")
    words = re.search(r"export const WORDS = \[.*?\];", dashboard, re.S)
    assert words is not None, "dashboard.js has no WORDS table"
    (tmp_path / "words.js").write_text("import {N_} from './i18n.js';\n" + words.group(0) + "\n")
    (tmp_path / "run.mjs").write_text(script)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    catalog = page_catalog(language)  # what GET /_sim/i18n/{language}.json answers
    argument = json.dumps({"messages": catalog["messages"], "reasons": catalog.get("reasons", []), "why": why,
                           "details": DETAILS, **extra})
    done = subprocess.run([node, str(tmp_path / "run.mjs"), argument], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def english_left(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{3,}", TECHNICAL.sub(" ", text))


def test_every_reason_the_phone_gives_and_every_detail_reads_in_chinese(tmp_path: Path) -> None:
    """docs/dashboard.md §2: "Why it was not presented" and the stored/batched/fault details in Chinese,
    a joined reason part by part, a number kept in place."""
    reasons = phone_reasons()
    assert all(reasons) and any("; " in r for r in reasons) and "permission denied: delivered silently" in reasons
    page = run_page(tmp_path, reasons)
    for english, chinese in zip(reasons, page["why"], strict=True):
        assert HAN.search(chinese) and english_left(chinese) == [], f"{english!r} read as {chinese!r}"
    assert page["why"][reasons.index("permission denied: delivered silently")] == "用户拒绝了通知权限：静默送达"
    badge = next(c for e, c in zip(reasons, page["why"], strict=True) if e.startswith("badge "))
    assert str(p.MAX_BADGE + 1) in badge and str(p.MAX_BADGE) in badge
    for (stage, english), chinese in zip(DETAILS, page["details"], strict=True):
        assert HAN.search(chinese) and english_left(chinese) == [], f"{stage} {english!r} read as {chinese!r}"
    assert "held" in page["words"] and "not kept" in page["words"]
    messages = DOMAIN.messages("zh")
    assert (messages["held"], messages["not kept"]) == ("暂停等待讲解人", "未保留")


def test_a_reason_the_page_does_not_know_is_shown_as_the_phone_wrote_it(tmp_path: Path) -> None:
    """docs/i18n.md: free text with no msgid stays English rather than vanishing; known parts still translate."""
    page = run_page(tmp_path, ["a reason from a newer phone; permission denied: delivered silently"])
    assert page["why"] == ["a reason from a newer phone；用户拒绝了通知权限：静默送达"]


STEPS = """
import {useMessages} from './i18n.js';
import {stepState, stepText} from './lanes.js';
const input = JSON.parse(process.argv[2]);
useMessages(input.messages, input.reasons);
console.log(JSON.stringify(input.journeys.map(
  stages => stages.map((s, i) => [s.stage, stepState(stages, i), stepText(s, stages[i + 1])]))));
"""
HELD = "held for the presenter when the connection closed"
JOURNEYS = [
    ["accepted", "held"],  # the presenter has not moved on yet
    ["accepted", "held", "delivered", "acknowledged", "handed_to_app", "presented"],
    ["accepted", "held", "stored"],  # the phone went away while the push was held
    ["accepted", "stored", "delivered"],
]


def held_steps(tmp_path: Path, language: str) -> list[tuple[str, str, str]]:
    journeys = [[{"stage": s, **({"detail": HELD} if s == "stored" else {})} for s in j] for j in JOURNEYS]
    rows = run_page(tmp_path, [], script=STEPS, language=language, journeys=journeys)
    return [(stage, state, text) for journey in rows for stage, state, text in journey
            if stage in ("held", "stored")]


@pytest.mark.parametrize(("language", "texts"), [
    ("zh", ["暂停中：等讲解人继续（教学模式）", "曾暂停等讲解人，之后已放行（教学模式）",
            "曾暂停等讲解人（教学模式）"]),
    ("en", ["Held until the presenter moves on (teacher mode)",
            "Held for the presenter, then released (teacher mode)", "Was held for the presenter (teacher mode)"]),
])
def test_a_held_step_reads_as_past_once_a_later_stage_happened(
        tmp_path: Path, language: str, texts: list[str]) -> None:
    """docs/dashboard.md §1 "Teacher mode": a step that waits (held for the presenter, stored, batched) is yellow
    only while it waits; once a later stage happened it is grey history, and the held step says it was released."""
    (waiting, released, was_held, stored_last, stored_then_delivered) = held_steps(tmp_path, language)
    assert waiting == ("held", "info", texts[0])
    assert released == ("held", "past", texts[1])
    assert was_held == ("held", "past", texts[2])
    assert stored_last[:2] == ("stored", "info") and stored_then_delivered[:2] == ("stored", "past")

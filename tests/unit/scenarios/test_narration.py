"""How a story is told (scenarios.narration, docs/scenarios.md "Narration" and "Colours"): words never broken
at the terminal's edge, one colour per stage, JSON lines that keep Chinese readable."""

from __future__ import annotations

import io
import json

import pytest
from rich.cells import cell_len
from rich.console import Console

import pushsim_i18n
from pushsim_i18n.wrap import breaks as wrap  # the narration breaks its lines here
from scenarios.narration import ACTOR_STYLES, STAGE_STYLES, JsonNarrator, RichNarrator

LONG = ("Keychain Access: new key pair, Push.certSigningRequest, private key exported as Push.p12 "
        "(password-protected), then the portal turns the request into aps_developer_identity.cer for "
        "com.example.pushchat and the provider loads both files")


@pytest.mark.parametrize("width", [40, 80, 120])
def test_a_long_step_wraps_at_word_boundaries_at_any_width(width: int) -> None:
    """docs/scenarios.md "Narration": every word of a long step survives whole on one line (issue 16 saw
    ``password-pr`` / ``otected`` at 120 columns), and no line is wider than the terminal."""
    out = io.StringIO()
    narrator = RichNarrator(out, width=width)
    narrator.step({"actor": "portal", "at": 1.5, "text": LONG})
    narrator.check(LONG, True)
    lines = out.getvalue().splitlines()
    assert len(lines) > 2 and all(len(line) <= width for line in lines)
    printed = out.getvalue().split()
    assert all(printed.count(word) >= 2 for word in LONG.split()), out.getvalue()  # the step's and the check's


@pytest.mark.parametrize("width", [40, 80])
def test_chinese_wraps_by_cell_width(width: int) -> None:
    """Chinese characters take two cells: a wrapped Chinese step fits the terminal, nothing lost."""
    text = ("Provider（推送服务器）把消息和目标 iPhone 的设备令牌（device token）打包在一起，"
            "发送给苹果推送通知服务（APNs）。") * 2
    out = io.StringIO()
    RichNarrator(out, width=width).step({"actor": "provider", "at": 0.0, "text": text})
    measure = Console(width=200)
    lines = out.getvalue().splitlines()
    assert all(measure.measure(line).maximum <= width for line in lines)
    told = [lines[0].split("Provider", 1)[1], *lines[1:]]  # the step's label, then its text
    assert "".join(told).replace(" ", "") == text.replace(" ", "")


def test_one_colour_per_stage() -> None:
    """docs/scenarios.md "Colours": certificates yellow, stage 1 blue, stage 2 magenta, stage 3 green."""
    assert STAGE_STYLES == {0: "bold yellow", 1: "bold blue", 2: "bold magenta", 3: "bold green"}
    assert [ACTOR_STYLES[a] for a in ("portal", "provider", "apns", "device", "app")] == \
        ["bold yellow", "bold blue", "bold magenta", "bold green", "bold green"]


def test_a_stage_rule_carries_the_stage_colour() -> None:
    """docs/scenarios.md "Colours": stage 2's rule is magenta even when another actor opens it; the actor's
    label keeps the actor's own colour (the iPhone green)."""
    out = io.StringIO()
    narrator = RichNarrator(out, width=80)
    narrator.console = Console(file=out, width=80, force_terminal=True, color_system="standard")
    narrator.stage("Stage 2: APNs sends it on", "device", 2)
    assert "\x1b[1;35m─" in out.getvalue() and "\x1b[1;32miPhone " in out.getvalue()


def test_json_lines_keep_chinese_readable_and_carry_the_stage_number() -> None:
    """docs/i18n.md, docs/scenarios.md "--json": UTF-8 text, never ``\\u`` escapes; ``number`` on a stage."""
    out = io.StringIO()
    narrator = JsonNarrator(out, io.StringIO())
    narrator.stage("阶段 1：Provider 把通知发给 APNs", "provider", 1)
    narrator.stage("准备", "story")
    narrator.step({"stage": "阶段 1", "actor": "provider", "text": "设备令牌（device token）", "at": 0.1})
    text = out.getvalue()
    assert "\\u" not in text and "设备令牌" in text
    first, second, _ = (json.loads(line) for line in text.splitlines())
    assert first == {"type": "stage", "title": "阶段 1：Provider 把通知发给 APNs", "actor": "provider", "number": 1}
    assert "number" not in second


@pytest.mark.parametrize("width", range(12, 40))
def test_chinese_lines_never_start_with_closing_punctuation(width: int) -> None:
    """docs/scenarios.md "Narration": a break may fall between any two Chinese characters, but "，" and "）"
    stay with what they close; every character is kept, in order."""
    text = "应用 com.example.pushchat 已安装；它注册了提示（alert）、声音（sound）和角标（badge）。"
    lines = [text[a:b] for a, b in wrap(text, width)]
    assert all(cell_len(line) <= width for line in lines)
    assert not [line for line in lines if line[:1] in "，。：；、）"]
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


TOUR = (["what is wrong", "Apple's answer", "the simulator's answer", "✓"],
        [["the apns-topic names an app the certificate does not cover", "400 TopicDisallowed",
          "400 TopicDisallowed", "✓"],
         ["neither a client certificate nor a JWT", "403 MissingProviderToken", "403 MissingProviderToken", "✓"]])
TOUR_ZH = (["错在哪里", "苹果的应答", "模拟器的应答", "✓"],
           [["没有任何手机拥有过的设备令牌", "400 InvalidProviderToken", "400 InvalidProviderToken", "✓"],
            [":path 写成 /3/push/…（应为 /3/device/）", "403 MissingProviderToken", "403 MissingProviderToken", "✓"]])
FLEET = (["phones", "identities", "connecting", "pushes", "delivered", "per second", "p50 ms", "p99 ms", "seconds"],
         [["1000", "12.34", "5.67", "1000", "1000", "1234.5", "12.3", "45.6", "9.87"]])


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("table", [TOUR, TOUR_ZH, FLEET])
def test_every_table_fits_its_width_with_its_right_border(width: int, table: tuple[list[str], list[list[str]]]) -> None:
    """docs/scenarios.md "Narration": a table whose longest words together overflow the terminal (issue 16:
    bad-requests-tour in Chinese and load-fleet at 80 columns lost their last column and right border) fits,
    every column kept, the last one too."""
    out = io.StringIO()
    RichNarrator(out, width=width).table("title", *table)
    lines = out.getvalue().splitlines()[1:]
    assert all(cell_len(line) <= width for line in lines), out.getvalue()
    assert lines[0].endswith("┓") and lines[-1].endswith("┘") and all(line[-1] in "┃│┩┘┓" for line in lines)
    assert table[0][-1][:3] in out.getvalue()  # the last column is there


def test_a_party_is_named_as_apple_does_in_its_own_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md "Colours": the label says ``APNs`` (not ``APNS``) and is magenta even in a stage 1
    rule (a fault on the provider's request), whose line stays blue; in Chinese the app is 应用."""
    out = io.StringIO()
    narrator = RichNarrator(out, width=80)
    narrator.console = Console(file=out, width=80, force_terminal=True, color_system="standard")
    narrator.stage("Fault: two 503 ServiceUnavailable", "apns", 1)
    assert "\x1b[1;35mAPNs " in out.getvalue() and "APNS" not in out.getvalue() and "\x1b[1;34m" in out.getvalue()
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    out = io.StringIO()
    RichNarrator(out, width=80).step({"actor": "app", "at": 0.5, "text": "收到了"})
    assert "应用" in out.getvalue() and "app" not in out.getvalue()


@pytest.mark.parametrize("text", ["next: Stage 3: the iPhone hands it to the app, which shows it as it registered "
                                  "for (press Enter) ",
                                  "下一步：阶段 3：iPhone 把通知交给应用，应用按它注册时申请的方式展示（按回车继续） ",
                                  "下一步：阶段 3：iPhone 把通知交给应用，应用按注册时选择的方式展示它（按回车继续） "])
def test_a_long_prompt_wraps_under_itself_and_keeps_its_ending(text: str) -> None:
    """docs/scenarios.md "Teacher mode": at 60 columns the ``--step`` prompt wraps with a hanging indent, no
    line at column 0, and still ends exactly as written (a presenter's script waits for the ending)."""
    out = io.StringIO()
    RichNarrator(out, width=60).prompt(text)
    lines = out.getvalue().split("\n")
    assert len(lines) > 1 and all(cell_len(line) <= 60 for line in lines)
    assert lines[0].startswith("  ⏸  ") and all(line.startswith("     ") for line in lines[1:])
    assert out.getvalue().endswith(text[-12:])
    assert "(press Enter) " in lines[-1] or "（按回车继续） " in lines[-1]  # whole, not "（按回" / "车继续）"

"""The tutorial's own path and its registration failure, as scenarios, in English and in Chinese (docs/scenarios.md,
`tutorial-path` and `registration-failure`; docs/i18n.md, "Choosing the language"). Each story checks its own
claims (the three files, the wildcard refusal, the 64-hex token, ck.pem from the two files, the same apns-id end
to end, alert/sound/badge presented; didFail… with 3000 and 3010, nothing sent to the provider); these tests add
that the numbering and the tutorial's names reach the reader in both languages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import pushsim_i18n
from scenarios.runner import MODULES, main
from tests.integration.test_scenarios import raw_stage_names

CJK = re.compile(r"[\u4e00-\u9fff]")
# The five steps and the three stages, in the tutorial's order, as the stage titles number them.
NUMBERING = {
    "en": ["Step 1:", "Step 2:", "Step 3:", "Step 4, Stage 1:", "Step 5, Stage 2:", "Step 5, Stage 3:"],
    "zh": ["步骤 1：", "步骤 2：", "步骤 3：", "步骤 4，阶段 1：", "步骤 5，阶段 2：", "步骤 5，阶段 3："],
}


def _run(name: str, lang: str, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr(pushsim_i18n, "_current", None)  # main() chooses the language; undone after the test
    code = main([name, "--json", "--lang", lang])
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert code == 0, out
    assert records[-1]["type"] == "verdict" and records[-1]["ok"] is True
    checks = [r for r in records if r["type"] == "check"]
    assert checks and all(c["ok"] for c in checks)
    return records


def test_registered_right_after_three_stages() -> None:
    assert MODULES[MODULES.index("three_stages") + 1:][:2] == ("tutorial_path", "registration_failure")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tutorial_path_follows_the_tutorial(lang: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    records = _run("tutorial-path", lang, capsys, monkeypatch)
    titles = [r["title"] for r in records if r["type"] == "stage"]
    numbered = [t for t in titles if any(t.startswith(n) for n in NUMBERING[lang])]
    assert [n for t in numbered for n in NUMBERING[lang] if t.startswith(n)] == NUMBERING[lang]
    certificates = next(i for i, t in enumerate(titles) if "Push.certSigningRequest" in t)
    assert certificates < titles.index(numbered[0])  # the certificate part comes first, as in the tutorial
    assert "Push.p12" in titles[certificates] and "aps_developer_identity.cer" in titles[certificates]
    text = "\n".join(r.get("text", "") for r in records if r["type"] == "step")
    for name in ("registerForRemoteNotificationTypes:", "didRegisterForRemoteNotificationsWithDeviceToken:",
                 "didFailToRegisterForRemoteNotificationsWithError:", "Development Push SSL Certificate",
                 "openssl x509 -in aps_developer_identity.cer -inform der -out PushChatCert.pem"):
        assert name in text
    claims = [r["claim"] for r in records if r["type"] == "check"]
    assert len(claims) >= 10
    # Apple's three stages carry their number in the JSON (docs/scenarios.md "Teacher mode"), as in three-stages.
    stages = [r for r in records if r["type"] == "stage"]
    assert [(r["number"], r["actor"]) for r in stages if "number" in r] == [(1, "provider"), (2, "apns"), (3, "app")]
    assert [r["title"] for r in stages if "number" in r] == numbered[3:]
    if lang == "zh":
        assert all(CJK.search(c) for c in claims) and "iOS 配置门户（iOS Provisioning Portal）" in text
        assert raw_stage_names(records) == []  # the journey told in Chinese (scenarios/journey.py)
    else:
        assert not any(CJK.search(c) for c in claims) and "iOS Provisioning Portal" in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_registration_failure_shows_did_fail(lang: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    records = _run("registration-failure", lang, capsys, monkeypatch)
    steps = [r["text"] for r in records if r["type"] == "step"]
    failures = [s for s in steps if "didFailToRegisterForRemoteNotificationsWithError:" in s]
    assert any("Code=3000" in s for s in failures) and any("Code=3010" in s for s in failures)
    assert any("--fail-with 3000" in s and '"code": 3000' in s for s in steps)
    claims = [r["claim"] for r in records if r["type"] == "check"]
    assert claims and all(bool(CJK.search(c)) == (lang == "zh") for c in claims)


# The fact and the note each said once (docs/scenarios.md, `tutorial-path`): the note in the certificate step,
# the wildcard rule as the refusal's explanation (the creation and the check say it in other words).
ONCE = {
    "en": ["aps_developer_identity.cer is the tutorial's name for today's aps_development.cer",
           "App IDs with a wildcard cannot use"],
    "zh": ["aps_developer_identity.cer 是教程里的文件名", "带通配符的 App ID 不能使用推送"],
}


def _lines(records: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or r.get("claim") or r.get("title") or "" for r in records)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tutorial_path_says_each_thing_once(lang: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md, `tutorial-path`: the tutorial's file name is explained once, in the certificate step (not
    again when ck.pem is made); the wildcard rule is said once, as the refusal's explanation."""
    text = _lines(_run("tutorial-path", lang, capsys, monkeypatch))
    assert [text.count(sentence) for sentence in ONCE[lang]] == [1, 1]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tutorial_path_makes_ck_pem_right_before_step_4(lang: str, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md, `tutorial-path`: the tutorial's order: the three files, the app's steps 1 to 3, then
    "finally" the provider's certificate made from the two files, then step 4 (the provider sends with it)."""
    records = _run("tutorial-path", lang, capsys, monkeypatch)
    titles = [r["title"] for r in records if r["type"] == "stage"]
    step3 = next(i for i, t in enumerate(titles) if t.startswith(NUMBERING[lang][2]))
    step4 = next(i for i, t in enumerate(titles) if t.startswith(NUMBERING[lang][3]))
    ck = [i for i, t in enumerate(titles) if "ck.pem" in t]
    assert ck == [step3 + 1] and step4 == step3 + 2
    openssl = [i for i, r in enumerate(records) if r["type"] == "step" and "> ck.pem" in r["text"]]
    stage_at = [i for i, r in enumerate(records) if r["type"] == "stage"]
    assert openssl and all(stage_at[step3] < i < stage_at[step4] for i in openssl)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_registration_failure_tells_the_refusal_before_the_callback(
        lang: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md, `registration-failure`: in the order things happen: iOS refuses (the device), then
    didFailToRegister… (the app), then what a correct app does, for 3000 and for 3010."""
    records = _run("registration-failure", lang, capsys, monkeypatch)
    steps = [r for r in records if r["type"] == "step"]
    for code in (3000, 3010):
        refusal = next(i for i, s in enumerate(steps) if s["actor"] == "device" and "NSCocoaErrorDomain" in s["text"]
                       and str(code) in s["text"] and "didFail" not in s["text"])
        callback = next(i for i, s in enumerate(steps)
                        if "didFailToRegisterForRemoteNotificationsWithError:" in s["text"]
                        and f"Code={code}" in s["text"])
        assert refusal + 1 == callback and steps[callback]["actor"] == "app"
        assert steps[callback + 1]["actor"] == "app" and "didFail" not in steps[callback + 1]["text"]

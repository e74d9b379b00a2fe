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
    assert all(bool(CJK.search(c)) == (lang == "zh") for c in claims)

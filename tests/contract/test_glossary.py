"""docs/glossary.md lists every term the demo uses in both languages (docs/i18n.md, "Chinese for a learner"):
every row of every table has its English term, its Chinese term, and its meaning in each language; and the
tutorial's own terms (three stages, five steps, three files, two callbacks, ``registerForRemoteNotificationTypes:``)
are there."""

from __future__ import annotations

import re
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parents[2] / "docs" / "glossary.md"
CJK = re.compile(r"[\u3400-\u9fff]")
TUTORIAL_TERMS = (
    "the three stages", "Stage 1", "Stage 2", "Stage 3", "the five steps", "Step 1", "Step 2", "Step 3", "Step 4",
    "Step 5", "`Push.certSigningRequest`", "`Push.p12`", "`aps_developer_identity.cer`", "the three files",
    "`registerForRemoteNotificationTypes:`", "`didRegisterForRemoteNotificationsWithDeviceToken:`",
    "`didFailToRegisterForRemoteNotificationsWithError:`", "the two callbacks", "iOS Provisioning Portal",
    "\"Development Push SSL Certificate\" row", "`ck.pem`", "wildcard App ID",
)


def _rows() -> list[list[str]]:
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells == ["English", "中文", "meaning", "含义"]:
            continue
        rows.append(cells)
    return rows


def test_every_row_has_both_languages() -> None:
    rows = _rows()
    assert len(rows) > 80
    for cells in rows:
        assert len(cells) == 4, cells
        english, chinese, meaning, meaning_zh = cells
        assert all(cells), f"an empty cell: {cells}"
        assert not CJK.search(english) and not CJK.search(meaning), f"English columns in Chinese: {cells}"
        assert CJK.search(meaning_zh), f"no Chinese meaning: {cells}"
        # The Chinese term is Chinese, or Apple's own name kept as Apple spells it (docs/i18n.md).
        assert CJK.search(chinese) or chinese == english, f"no Chinese term: {cells}"


def test_the_tutorials_terms_are_listed() -> None:
    terms = {cells[0] for cells in _rows()}
    assert [t for t in TUTORIAL_TERMS if t not in terms] == []

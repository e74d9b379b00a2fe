"""scripts/i18n's update and check on a scratch source tree (docs/i18n.md, "Keeping the catalogs complete")."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushsim_i18n import catalogs


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "app.py").write_text(
        "from pushsim_i18n import Domain\n_ = Domain('scenarios')\n"
        "a = _.gettext('sent {n} to {token}')\nb = _.ngettext('{n} phone', '{n} phones', 2)\n", encoding="utf-8")
    monkeypatch.setattr(catalogs, "ROOT", tmp_path)
    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(catalogs, "SOURCES", {"scenarios": [("python", "*.py", ())]})
    return tmp_path


def _translate(tree: Path, old: str, new: str) -> None:
    po = catalogs.po_path("scenarios", "zh")
    po.write_text(po.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def test_new_messages_are_untranslated_until_written_then_complete(tree: Path) -> None:
    catalogs.update(["scenarios"])
    found = catalogs.problems(["scenarios"])
    assert len(found) == 2 and all("untranslated" in line for line in found)
    _translate(tree, 'msgid "sent {n} to {token}"\nmsgstr ""',
               'msgid "sent {n} to {token}"\nmsgstr "向 {token} 发送了 {n} 条"')
    _translate(tree, 'msgstr[0] ""', 'msgstr[0] "{n} 部手机"')
    catalogs.update(["scenarios"])
    assert catalogs.problems(["scenarios"]) == []


def test_a_plural_with_a_lost_placeholder_and_a_stale_mo_are_reported(tree: Path) -> None:
    catalogs.update(["scenarios"])
    _translate(tree, 'msgid "sent {n} to {token}"\nmsgstr ""', 'msgid "sent {n} to {token}"\nmsgstr "已发送"')
    _translate(tree, 'msgstr[0] ""', 'msgstr[0] "部手机"')
    catalogs.update(["scenarios"])
    _translate(tree, 'msgstr "已发送"', 'msgstr "已发送 {n} {token}"')  # the .po changed, the .mo did not
    found = catalogs.problems(["scenarios"])
    assert any("placeholders differ in ('{n} phone', '{n} phones')" in line for line in found)
    assert any("scenarios.mo does not match scenarios.po" in line for line in found)


def test_a_message_gone_from_the_code_is_reported(tree: Path) -> None:
    catalogs.update(["scenarios"])
    (tree / "app.py").write_text("from pushsim_i18n import Domain\n_ = Domain('scenarios')\n", encoding="utf-8")
    assert any("no longer in the code" in line for line in catalogs.problems(["scenarios"]))

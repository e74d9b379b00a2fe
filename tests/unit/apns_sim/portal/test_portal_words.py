"""The portal in the tutorial's words (docs/device-side.md §5 items 4 and 6; docs/glossary.md, "Certificates and
keys"): the iOS Provisioning Portal's "Development Push SSL Certificate" row beside today's page, the
``aps_developer_identity.cer`` name, the plain wildcard refusal, and the same in Chinese (docs/i18n.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import pushsim_i18n
from apns_sim import pki
from apns_sim.portal import formats
from apns_sim.portal.service import TUTORIAL_CER_NAME, Portal, PortalError
from apns_sim.portal.tables import listing_table
from tests.unit.apns_sim.portal.test_portal import TEAM, authority, clock, csr, portal, store  # noqa: F401

NOTE = "aps_developer_identity.cer is the tutorial's name for today's aps_development.cer"


def test_todays_file_name_is_told_with_todays_portal_page(portal: Portal) -> None:  # noqa: F811
    """§5 item 4: `cert issue --out aps_development.cer` is today's name, so the summary says where today's portal
    has it (Certificates, Identifiers & Profiles > Certificates, Apple's certificate type) and names the tutorial's
    row once, as the tutorial's; it never presents today's file as downloaded from the tutorial's row."""
    portal.create_app_id("com.example.app", TEAM)
    issued = portal.issue_certificate("com.example.app", csr(), "sandbox").saved("aps_development.cer")
    assert issued.filename == "aps_development.cer"
    assert ("the aps_development.cer you download from Certificates, Identifiers & Profiles > Certificates"
            in issued.summary)
    assert "Apple Push Notification service SSL (Sandbox)" in issued.summary
    assert ("in the tutorial: the \"Development Push SSL Certificate\" row of the iOS Provisioning Portal"
            in issued.summary)
    assert issued.summary.count("Development Push SSL Certificate") == 1
    assert "aps_developer_identity.cer" not in issued.summary and "the tutorial's name" not in issued.summary
    assert NOTE not in issued.summary  # said only when the learner uses the tutorial's name


def test_tutorials_file_name_is_told_with_the_tutorials_portal_row(portal: Portal) -> None:  # noqa: F811
    """§5 item 4: saved as aps_developer_identity.cer, the summary speaks the tutorial's era: the iOS Provisioning
    Portal's "Development Push SSL Certificate" row, today's page beside it, and once that it is today's
    aps_development.cer."""
    portal.create_app_id("com.example.app", TEAM)
    saved = portal.issue_certificate("com.example.app", csr(), "sandbox").saved(TUTORIAL_CER_NAME)
    assert ("the aps_developer_identity.cer you download from the \"Development Push SSL Certificate\" row of the "
            "iOS Provisioning Portal" in saved.summary)
    assert "(today: Certificates, Identifiers & Profiles > Certificates)" in saved.summary
    assert saved.summary.count("aps_development.cer") == 1 and saved.summary.count("iOS Provisioning Portal") == 1


def test_tutorial_file_name_is_explained_once(portal: Portal) -> None:  # noqa: F811
    """Saved as aps_developer_identity.cer: the same certificate, and the summary says so exactly once."""
    portal.create_app_id("com.example.app", TEAM)
    issued = portal.issue_certificate("com.example.app", csr(), "sandbox")
    saved = issued.saved(TUTORIAL_CER_NAME)
    assert saved.der == issued.der and saved.record == issued.record
    assert saved.summary.count(NOTE) == 1
    assert saved.as_json()["filename"] == "aps_development.cer"  # machine-readable output is unchanged
    assert issued.saved("mine.cer").summary == issued.summary


def test_both_wordings_read_right_in_chinese(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """docs/i18n.md: the same two eras in Chinese: today's name with today's page and the tutorial's row once;
    the tutorial's name with the iOS 配置门户's row and today's page beside it."""
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    portal.create_app_id("com.example.app", TEAM)
    today = portal.issue_certificate("com.example.app", csr(), "sandbox").saved("aps_development.cer").summary
    assert "从 Certificates, Identifiers & Profiles > Certificates 下载的 aps_development.cer" in today
    assert today.count("Development Push SSL Certificate") == 1 and "教程里" in today
    assert "aps_developer_identity.cer" not in today
    tutorial = portal.issue_certificate("com.example.app", csr(), "sandbox").saved(TUTORIAL_CER_NAME).summary
    assert "iOS 配置门户（iOS Provisioning Portal）的 “Development Push SSL Certificate” 一行" in tutorial
    assert "今天在 Certificates, Identifiers & Profiles > Certificates" in tutorial
    assert tutorial.count("aps_development.cer") == 1


def test_wildcard_refusal_says_plainly_it_cannot_use_push(portal: Portal) -> None:  # noqa: F811
    """§5 item 6: creating a wildcard App ID says it gets no push; asking a push certificate for it is refused with
the plain "App IDs with a wildcard cannot use push"."""
    created = portal.create_app_id("com.example.*", TEAM)
    assert "A wildcard App ID gets no Push Notifications capability" in created.summary
    # The plain sentence is the refusal's own explanation; the creation says the fact in other words.
    assert "App IDs with a wildcard cannot use push" not in created.summary
    with pytest.raises(PortalError) as info:
        portal.issue_certificate("com.example.*", csr(), "sandbox")
    assert "App IDs with a wildcard cannot use push" in str(info.value)


def test_export_of_the_tutorial_name_says_it_once(authority: pki.Authority) -> None:  # noqa: F811
    """`portal export --cer aps_developer_identity.cer`: the tutorial's name is accepted and explained once."""
    csr_pem, p12 = pki.make_keychain_request(email="dev@example.com", common_name="Push", password="pw")
    cert = pki.issue_push_certificate(authority, csr_pem, bundle_id="com.example.app", team_id=TEAM,
                                      environment="sandbox", now=datetime.now(UTC))
    inputs = formats.Inputs(cer=pki.cert_to_der(cert), cer_name=TUTORIAL_CER_NAME, p12=p12, password="pw")
    result = formats.convert(inputs, "pem")
    assert result.summary.count(NOTE) == 1
    assert "openssl x509 -inform der -in aps_developer_identity.cer -out cert.pem" in result.summary
    plain = formats.convert(formats.Inputs(cer=pki.cert_to_der(cert), p12=p12, password="pw"), "pem")
    assert NOTE not in plain.summary


def test_portal_speaks_chinese(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """docs/i18n.md: the learner's summaries and errors in Chinese, Apple's names kept as Apple spells them."""
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    created = portal.create_app_id("com.example.*", TEAM)
    assert "通配符" in created.summary and "推送" in created.summary
    portal.create_app_id("com.example.app", TEAM)
    saved = portal.issue_certificate("com.example.app", csr(), "sandbox").saved(TUTORIAL_CER_NAME)
    assert "iOS 配置门户（iOS Provisioning Portal）" in saved.summary
    assert "Development Push SSL Certificate" in saved.summary and "aps_developer_identity.cer" in saved.summary
    with pytest.raises(PortalError) as info:
        portal.issue_certificate("com.example.*", csr(), "sandbox")
    assert "通配符" in str(info.value)
    assert listing_table(portal.list_auth_keys(), datetime.now(UTC)).startswith("还没有签名密钥")
    assert portal.list_app_ids().summary == "共 2 个 App ID。"


@pytest.mark.parametrize(("environment", "apple", "chinese"), [
    ("sandbox", "Apple Push Notification service SSL (Sandbox)", "开发推送证书"),
    ("production", "Apple Production IOS Push Services", "生产推送证书"),
    ("universal", "Apple Push Notification service SSL (Sandbox & Production)", "通用推送证书"),
])
def test_certificate_kind_keeps_apples_name_with_the_chinese_beside_it(
        portal: Portal, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        environment: str, apple: str, chinese: str) -> None:
    """docs/i18n.md, docs/glossary.md "Certificates and keys": the issued certificate's type is told by Apple's
    name, as the portal shows it, with the Chinese term beside it in full-width brackets; English is unchanged."""
    portal.create_app_id("com.example.app", TEAM)
    english = portal.issue_certificate("com.example.app", csr(), environment)
    assert apple in english.summary and chinese not in english.summary
    assert english.summary.startswith(f"Issued an {apple}")  # Apple's name first: "an" reads right for each kind
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    summary = portal.issue_certificate("com.example.app", csr(), environment).summary
    assert apple in summary
    assert f"（{chinese}" in summary

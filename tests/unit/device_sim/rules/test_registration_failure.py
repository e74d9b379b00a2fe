"""The registration-failure knob (docs/device-side.md §4, "Registration error cases"; docs/cli.md `--fail-with`):
an app made to fail gets iOS's own NSError through ``did_fail_to_register_for_remote_notifications``."""

from __future__ import annotations

import pytest

import pushsim_i18n
from device_sim.app.app import App, AppConfig
from device_sim.identity.store import AppRecord
from device_sim.rules import registration
from device_sim.rules.presentation import RegistrationError
from tests.unit.device_sim.app.test_app import Delegate
from tests.unit.device_sim.fake_host import FakeHost


@pytest.mark.parametrize(("code", "description"), [
    (3000, "no valid \u201caps-environment\u201d entitlement string found for application"),
    (3010, "remote notifications are not supported in the simulator"),
])
async def test_fail_with_calls_did_fail_with_ios_error(code: int, description: str) -> None:
    """§4: the knob makes register() call did_fail… with iOS's NSError for the code, and no token is asked for."""
    delegate = Delegate()
    host = FakeHost()
    app = App(host, AppRecord(bundle_id="com.example.app", environment="development"), delegate,
              config=AppConfig(fail_registration_with=code))
    with pytest.raises(RegistrationError) as info:
        await app.register()
    error = info.value
    assert (error.domain, error.code, error.description) == ("NSCocoaErrorDomain", code, description)
    assert delegate.calls == [("fail", error)]
    assert not app.registered and app.token is None
    assert registration.failure_json(error) == {"error": {"domain": "NSCocoaErrorDomain", "code": code,
                                                          "description": description}}


def test_unknown_code_is_refused_in_one_line_listing_the_known() -> None:
    """docs/cli.md `--fail-with`: only the codes the phone knows; any other is a one-line error naming them."""
    with pytest.raises(ValueError) as info:
        AppConfig(fail_registration_with=1234)
    message = str(info.value)
    assert "1234" in message and "3000" in message and "3010" in message and "\n" not in message


def test_failure_words_are_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/i18n.md "Writing a message": the person's line is Chinese; iOS's NSError text stays as iOS says it."""
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    error = registration.failure(3010)
    line = registration.failure_line(error)
    assert "didFailToRegisterForRemoteNotificationsWithError:" in line and "注册" in line
    assert "remote notifications are not supported in the simulator" in line
    assert "3000" in registration.fail_with_help() and "打印" in registration.fail_with_help()


def test_unknown_code_lists_each_cause_without_nested_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/i18n.md "Chinese for a learner": full-width punctuation in Chinese and no bracket inside a bracket,
    in either language."""
    for lang in ("en", "zh"):
        monkeypatch.setattr(pushsim_i18n, "_current", lang)
        with pytest.raises(ValueError) as info:
            registration.check_code(42)
        message = str(info.value)
        depth, deepest = 0, 0
        for char in message:
            depth += char in "(（"
            deepest = max(deepest, depth)
            depth -= char in ")）"
        assert deepest <= 1 and "3000" in message and "3010" in message, message
        if lang == "zh":
            assert "(" not in message and ")" not in message and "；" in message, message

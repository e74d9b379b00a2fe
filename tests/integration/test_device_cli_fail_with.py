"""``device-sim register --fail-with CODE`` as a user runs it, against a running gateway (docs/cli.md,
`device-sim register`; docs/device-side.md §4, "Registration error cases")."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_device_cli import (
    BUNDLE,
    Sim,
    sim,  # noqa: F401  (the fixture, shared with the plain CLI tests)
)
from tests.integration.test_device_cli import device_sim as run


async def test_fail_with_prints_the_nserror_and_exits_3(sim: tuple[Sim, Path]) -> None:  # noqa: F811
    """The registration fails with iOS's NSError: one JSON object on stdout, one line on stderr, exit 3; the
    simulator got no token for the app. Without the flag the same phone then registers normally."""
    s, endpoints = sim
    args = ("register", "--endpoints", str(endpoints), "--app", BUNDLE, "--environment", "sandbox")
    code, out, err = await run(*args, "--fail-with", "3000")
    assert code == 3, err
    assert json.loads(out) == {"error": {
        "domain": "NSCocoaErrorDomain", "code": 3000,
        "description": "no valid \u201caps-environment\u201d entitlement string found for application"}}
    assert len(err.strip().splitlines()) == 1 and "didFailToRegisterForRemoteNotificationsWithError:" in err
    assert err.startswith("device-sim register: error: registration failed: ")  # like every tool's errors
    assert s.state.registry.list_tokens() == []

    code, out, err = await run(*args, "--fail-with", "3000", "--lang", "zh")
    assert code == 3 and json.loads(out)["error"]["code"] == 3000  # the JSON is the same in every language
    assert err.startswith("device-sim register：错误：注册远程通知失败："), err

    code, out, err = await run(*args, "--fail-with", "3010")
    assert code == 3 and json.loads(out)["error"]["code"] == 3010, err

    code, out, err = await run(*args)
    assert code == 0, err
    assert len(json.loads(out)["token"]) == 64


async def test_fail_with_an_unknown_code_is_a_usage_error(sim: tuple[Sim, Path]) -> None:  # noqa: F811
    """An NSError code the phone does not know: one line naming the known ones, exit 2, nothing printed."""
    _, endpoints = sim
    code, out, err = await run("register", "--endpoints", str(endpoints), "--app", BUNDLE, "--environment",
                               "sandbox", "--fail-with", "42")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "42" in err and "3000" in err and "3010" in err
    assert err.startswith("device-sim register: error: ")
    code, out, err = await run("register", "--endpoints", str(endpoints), "--app", BUNDLE, "--environment",
                               "sandbox", "--fail-with", "42", "--lang", "zh")
    assert code == 2 and err.startswith("device-sim register：错误：未知的注册错误码 42"), err
    assert "(" not in err and ")" not in err  # full-width brackets in Chinese, never nested (docs/i18n.md)

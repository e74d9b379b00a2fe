"""``apns-provider`` refuses bad input with one line on stderr and exit code 2, before any I/O."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provider.cli import main

TOKEN = "ab" * 32


@pytest.fixture
def p8(tmp_path: Path) -> Path:
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "credentials required"),
        (["--p8", "{p8}"], "--key-id and --team-id"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--cert", "c.pem"], "not both"),
        (["--key", "k.pem"], "--key needs --cert"),
        (["--cert", "{dir}/missing.pem"], "file not found"),
        (["--p8", "{dir}/missing.p8", "--key-id", "K", "--team-id", "T"], "file not found"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--token", "xyz"], "hexadecimal"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--priority", "7"], "priority"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--priority", "high"],
         "--priority: not an integer: 'high'"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--endpoint", "http://x:1"], "endpoint"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--ca", "{dir}/nope.pem"], "CA file not found"),
        (["--p8", "{p8}", "--key-id", "K", "--team-id", "T", "--environment", "staging"], "invalid choice"),
    ],
)
def test_send_bad_input(
    extra: list[str], message: str, p8: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["send", "--topic", "com.example.app", "--token", TOKEN, "--alert", "hi"]
    argv += [a.format(p8=p8, dir=tmp_path) for a in extra]
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("apns-provider send: error:") and message in err
    assert "Traceback" not in err


def test_payload_must_be_a_json_object(p8: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["send", "--topic", "t.app", "--token", TOKEN, "--p8", str(p8), "--key-id", "K", "--team-id", "T"]
    for payload, message in [("{", "not JSON"), ("[1]", "JSON object")]:
        code, _, err = _run([*base, "--payload", payload], capsys)
        assert code == 2 and message in err
    code, _, err = _run([*base, "--alert", "x", "--payload", "{}"], capsys)
    assert code == 2 and "not allowed with" in err


def test_missing_subcommand_and_serve_without_db(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([], capsys)[0] == 2
    code, _, err = _run(["serve"], capsys)
    assert code == 2 and "--db" in err


def test_secrets_are_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        [
            "send",
            "--topic",
            "t.app",
            "--token",
            TOKEN,
            "--alert",
            "x",
            "--p12",
            str(tmp_path / "x.p12"),
            "--password",
            "hunter2",
        ],
        capsys,
    )
    assert code == 2 and "hunter2" not in err


@pytest.mark.parametrize(
    ("push_type", "size", "limit"),
    [(None, 4097, 4096), ("alert", 4097, 4096), ("voip", 5121, 5120)],
)
def test_send_alert_size_is_checked_for_its_push_type(
    push_type: str | None, size: int, limit: int, p8: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/apns-protocol.md §3: 4096 bytes, 5120 for voip; --alert once said 'push type None' whatever was given."""
    alert_text = "x" * (size - len('{"aps":{"alert":""}}'))
    argv = ["send", "--topic", "com.example.app", "--token", TOKEN, "--alert", alert_text,
            "--p8", str(p8), "--key-id", "K", "--team-id", "T"]
    argv += ["--push-type", push_type] if push_type else []
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == ""
    assert err == (f"apns-provider send: error: payload is {size} bytes; APNs accepts at most {limit} "
                   f"for push type {push_type or 'alert'}\n")


def test_send_errors_are_in_the_readers_language(p8: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md, "Language, errors and output": under zh the size check and the token check are Chinese
    sentences after `apns-provider send：错误：`; the push type is bare, not Python's 'alert'."""
    import pushsim_i18n

    monkeypatch.setattr(pushsim_i18n, "_current", pushsim_i18n._current)  # main(--lang zh) sets it: restore
    base = ["--lang", "zh", "send", "--topic", "com.example.app", "--p8", str(p8), "--key-id", "K", "--team-id", "T"]
    code, out, err = _run([*base, "--token", TOKEN, "--alert", "x" * 4100], capsys)
    assert code == 2 and out == ""
    assert err.startswith("apns-provider send：错误：") and err.count("\n") == 1
    assert "4120" in err and "4096" in err and "alert" in err and "'alert'" not in err
    assert "payload is" not in err and "accepts at most" not in err
    code, _, err = _run([*base, "--token", "xyz", "--alert", "hi"], capsys)
    assert code == 2 and "十六进制" in err and "hexadecimal" not in err


def test_notification_errors_stay_english_for_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/provider-service.md §5: the service's HTTP answers (and the field read from them) are English
    whatever the process language; only the CLI translates."""
    import pushsim_i18n
    from provider.apns.notification import NotificationError, alert

    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    with pytest.raises(NotificationError) as caught:
        alert("x" * 4100)
    assert str(caught.value) == "payload is 4120 bytes; APNs accepts at most 4096 for push type alert"
    assert "4120" in caught.value.translated() and "payload is" not in caught.value.translated()


def test_send_alert_within_the_voip_limit_is_accepted() -> None:
    """A 4500-byte --alert fits a voip push (5120) though not an alert push (docs/apns-protocol.md §3)."""
    from provider.cli import _notification, build_parser

    argv = ["send", "--topic", "com.example.app.voip", "--token", TOKEN, "--alert", "x" * 4480,
            "--push-type", "voip"]
    notification = _notification(build_parser().parse_args(argv))
    assert notification.push_type == "voip" and notification.payload == {"aps": {"alert": "x" * 4480}}

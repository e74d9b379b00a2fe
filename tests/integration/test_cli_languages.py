"""The three tools in English and Chinese, as a user runs them (docs/cli.md, "Language, errors and output"):
``--lang`` before or after the sub-command, argparse's own words translated, every usage error one line
``prog: error: message`` with exit status 2, and UTF-8 output that keeps Chinese readable even under a C locale.

Each tool runs as a real process; the push with a Chinese alert goes through a real simulator (TLS, HTTP/2) from
``apns-provider send`` to ``device-sim run``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pushsim.harness import RunningSimulator
from pushsim_i18n.wrap import display_width

ROOT = Path(__file__).resolve().parents[2]
MODULES = {"apns-sim": "apns_sim.cli", "device-sim": "device_sim.cli", "apns-provider": "provider.cli"}
BUNDLE = "com.example.chinese"
ALERT = "你好，推送！第三阶段：iPhone 把通知交给应用"


def _env(lang: str | None = "en", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PUSHSIM_LANG", "APNS_PROVIDER_DB")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if lang is not None:
        env["PUSHSIM_LANG"] = lang
    return {**env, **extra}


def run(tool: str, *args: str, lang: str | None = "en", **extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", MODULES[tool], *args], env=_env(lang, **extra),
                          capture_output=True, timeout=60, check=False)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def test_apns_sim_help_in_chinese_has_chinese_titles_and_option_help() -> None:
    result = run("apns-sim", "--lang", "zh", "--help", lang=None)
    out = result.stdout.decode()
    assert result.returncode == 0
    assert out.startswith("用法：apns-sim")
    assert "\n位置参数：\n" in out and "\n选项：\n" in out and "显示这份帮助并退出" in out
    assert "模拟的苹果推送通知服务" in out and "开发者门户" in out
    serve = run("apns-sim", "serve", "--help", "--lang", "zh", lang=None, COLUMNS="80").stdout.decode()
    assert "状态目录（默认：一个新的临时目录）" in serve.replace("\n", "").replace(" ", "")
    assert all(display_width(line) <= 80 for line in serve.splitlines() if " " in line.strip())


def test_the_environment_chooses_chinese_and_english_stays_the_default() -> None:
    assert run("device-sim", "--help", lang="zh").stdout.decode().startswith("用法：device-sim")
    assert run("apns-provider", "--help", lang="zh_CN.UTF-8").stdout.decode().startswith("用法：apns-provider")
    plain = run("apns-provider", "--help", lang=None, LANG="C", LC_ALL="", LC_MESSAGES="", LANGUAGE="")
    assert plain.stdout.decode().startswith("usage:")


def _bad_invocations(tmp: Path) -> list[tuple[str, list[str]]]:
    missing = str(tmp / "missing.json")
    return [
        ("apns-sim", []),
        ("apns-sim", ["bogus"]),
        ("apns-sim", ["serve", "--sandbox-port", "x"]),
        ("apns-sim", ["serve", "--sandbox-port", "70000"]),
        ("apns-sim", ["portal", "cert", "issue", "--app-id", "com.example.a"]),
        ("apns-sim", ["portal", "--data-dir", str(tmp / "typo"), "app-id", "list"]),
        ("apns-sim", ["wait"]),
        ("apns-sim", ["env", "--data-dir", str(tmp)]),
        ("device-sim", []),
        ("device-sim", ["register", "--app", "com.example.a"]),
        ("device-sim", ["run", "--endpoints", missing, "--app", "com.example.a", "--environment", "bogus"]),
        ("device-sim", ["fleet", "--endpoints", missing, "--app", "com.example.a", "--count", "x"]),
        ("device-sim", ["uninstall", "--endpoints", missing, "--app", "com.example.a"]),
        ("device-sim", ["register", "--endpoints", missing, "--app", "com.example.a", "--environment", "sandbox",
                        "--types", "alert,vibrate"]),
        ("apns-provider", []),
        ("apns-provider", ["send"]),
        ("apns-provider", ["send", "--token", "ab", "--alert", "x", "--priority", "high"]),
        ("apns-provider", ["send", "--token", "ab", "--alert", "x", "--topic", "com.example.a"]),
        ("apns-provider", ["send", "--token", "ab", "--alert", "x", "--p8", "k.p8"]),
        ("apns-provider", ["send", "--token", "ab", "--alert", "x", "--topic", "com.example.a", "--cert", missing]),
        ("apns-provider", ["migrate"]),
        ("apns-provider", ["worker", "--db", str(tmp / "q.db"), "--lease", "soon"]),
        ("apns-provider", ["feedback", "--p8", "k.p8", "--key-id", "K", "--team-id", "T"]),
    ]


SUB_COMMANDS = {"serve", "portal", "hosts", "trust", "env", "wait", "register", "run", "uninstall", "restore",
                "erase", "fleet", "send", "feedback", "worker", "migrate"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_usage_error_is_one_line_and_exit_2(tmp_path: Path, lang: str) -> None:
    """Several wrong invocations per tool and sub-command: exactly one stderr line, ``prog...: message``."""
    for tool, args in _bad_invocations(tmp_path):
        result = run(tool, *args, lang=lang)
        err = result.stderr.decode()
        assert result.returncode == 2, (tool, args, err)
        assert err.endswith("\n") and err.count("\n") == 1, (tool, args, err)
        assert err.startswith(tool), (tool, args, err)
        if args and args[0] in SUB_COMMANDS:  # the sub-command is named too (docs/cli.md, one-line errors)
            assert err.startswith(f"{tool} {args[0]}"), (tool, args, err)
        assert result.stdout == b"", (tool, args)
        if lang == "zh":
            assert has_chinese(err), (tool, args, err)


@pytest.mark.parametrize("tool", list(MODULES))
def test_lang_after_the_sub_command_and_a_bad_language_is_one_line(tool: str) -> None:
    sub = {"apns-sim": ["wait"], "device-sim": ["register"], "apns-provider": ["send"]}[tool]
    late = run(tool, *sub, "--lang", "zh", lang="en")
    assert late.returncode == 2 and late.stderr.decode().startswith(tool)
    assert "缺少必需的参数" in late.stderr.decode() and late.stderr.count(b"\n") == 1
    for args, lang in ((["--lang", "xx", *sub], "en"), (sub, "klingon")):
        bad = run(tool, *args, lang=lang)
        assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1
        assert "unknown language" in bad.stderr.decode() and "en, zh" in bad.stderr.decode()


def test_chinese_prints_under_a_c_locale_and_an_ascii_stdout() -> None:
    """Without the UTF-8 switch Python would raise UnicodeEncodeError at the first Chinese character here."""
    result = run("apns-sim", "--lang", "zh", "--help", lang=None, LC_ALL="C", LANG="C", PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode("utf-8").startswith("用法：")


def test_portal_json_keeps_chinese_readable(tmp_path: Path) -> None:
    result = run("apns-sim", "portal", "--data-dir", str(tmp_path / "sim"), "--create", "csr", "--email",
                 "teacher@example.com", "--common-name", "推送演示", "--password", "pw", "--out-dir",
                 str(tmp_path / "keys"), "--json", PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr.decode()
    assert "推送演示".encode() in result.stdout and b"\\u" not in result.stdout
    assert json.loads(result.stdout)["common_name"] == "推送演示"


async def _next_event(stream: asyncio.StreamReader, kind: str) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(stream.readline(), 30)
        assert line, "device-sim run ended early"
        event = json.loads(line)
        if event.get("event") == kind:
            event["_raw"] = line
            return event


async def test_device_sim_run_prints_a_chinese_alert_as_chinese(sim: RunningSimulator, tmp_path: Path) -> None:
    """The issue: `device-sim run` printed Chinese alert text as \\u4f60... escapes. Here the whole path is real:
    apns-provider send -> the simulator's provider API -> gateway -> device-sim run, under a C locale."""
    bundle = sim.issue_certificate(BUNDLE)
    phone = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "device_sim.cli", "run", "--endpoints", str(sim.endpoints_file), "--app", BUNDLE,
        "--state-dir", str(tmp_path / "phone"), env=_env("zh", LC_ALL="C", PYTHONIOENCODING="ascii"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert phone.stdout is not None
    try:
        token = (await _next_event(phone.stdout, "registered"))["token"]
        send = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "provider.cli", "send", "--endpoint", sim.sandbox_url, "--ca", str(sim.ca_file),
            "--cert", str(bundle.cert_pem), "--key", str(bundle.key_pem), "--topic", BUNDLE, "--token", token,
            "--alert", ALERT, env=_env("zh"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(send.communicate(), 30)
        assert send.returncode == 0, err.decode()
        assert json.loads(out)["status"] == 200
        note = await _next_event(phone.stdout, "notification")
        assert ALERT.encode() in note["_raw"] and b"\\u" not in note["_raw"]
        assert note["presented"]["alert"] == ALERT
    finally:
        phone.send_signal(2)
        await asyncio.wait_for(phone.wait(), 15)

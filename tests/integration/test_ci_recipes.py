"""docs/ci-recipes.md §1 and §2 run as written, so the recipes cannot rot.

The shell steps are extracted from the page's YAML (GitHub's ``run:`` blocks, each in a new shell as Actions
runs them; GitLab's ``script:`` lines, in one shell) and run in order, as root, in a private mount namespace
whose ``/etc`` and ``/tmp`` are copies: the recipe edits "its" ``/etc/hosts`` and keeps its data in
``/tmp/pushsim`` exactly as written, and the machine's own files stay untouched. "Your tests" are a small
aioapns test (unmodified client, Apple's hard-coded host). Only the ``pip install`` line is left out: pushsim is
already installed from this checkout, and the test asserts there is exactly one such line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.test_drop_in import _require_namespace_tools

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ci-recipes.md"

USER_TEST = '''
import asyncio
import json
import os
import urllib.request

from aioapns import APNs, NotificationRequest


async def send_order_shipped(env):
    """The code under test, as it runs in production: aioapns, Apple's sandbox host, nothing patched."""
    client = APNs(key=open(env["APNS_P8"]).read(), key_id=env["APNS_KEY_ID"], team_id=env["APNS_TEAM_ID"],
                  topic=env["APNS_TOPIC"], use_sandbox=True)
    request = NotificationRequest(device_token=env["APNS_DEVICE_TOKEN"], message={"aps": {"alert": "shipped"}})
    return await client.send_notification(request)


def test_order_shipped_push_is_accepted_by_apple():
    env = os.environ
    result = asyncio.run(send_order_shipped(env))
    assert result.is_successful, result.description
    log = json.loads(urllib.request.urlopen(env["APNS_SIM_ADMIN"] + "/_sim/notifications").read())
    assert [n["status"] for n in log if n["apns_id"] == result.notification_id] == [200]
'''


def _yaml_block(heading: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, f"no yaml block under {heading!r} in {PAGE}"
    return match.group(1).splitlines()


def _variable(lines: list[str], name: str) -> str:
    found = [line.split(":", 1)[1].strip() for line in lines if line.strip().startswith(f"{name}:")]
    assert len(found) == 1, f"{name} is set {len(found)} times"
    return found[0]


def github_steps(lines: list[str]) -> list[str]:
    """Each ``run: |`` block, dedented: one shell script per step."""
    steps: list[str] = []
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)(?:- )?run: \|$", lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        steps.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return steps


def gitlab_script(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip() == "script:")
    items = []
    for line in lines[start + 1:]:
        if not line.startswith("    - "):
            break
        items.append(line[len("    - "):])
    return items


def _without_install(commands: list[str]) -> list[str]:
    installs = [c for c in commands if "pip install" in c]
    assert len(installs) == 1 and "pushsim" in installs[0], installs
    return [c for c in commands if c not in installs]


def _run_in_namespace(tmp_path: Path, scripts: list[str], pushsim_dir: str) -> Path:
    """Run each script with ``bash -e`` in turn, cwd /tmp/work, in a namespace with copies of /etc and /tmp."""
    private_tmp, etc = tmp_path / "tmp", tmp_path / "etc"
    work = private_tmp / "work"
    (work / "tests" / "push").mkdir(parents=True)
    (work / "tests" / "push" / "test_push.py").write_text(USER_TEST)
    subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
    for index, script in enumerate(scripts):
        (work / f"step{index}.sh").write_text(script)
    driver = " && ".join(f"bash -e ./step{i}.sh" for i in range(len(scripts)))
    # The private /tmp must not hide a checkout or virtual environment that lives under /tmp (a CI clone often
    # does): bind those into it at the same paths first, then bind it over /tmp with its submounts.
    keep = ""
    for path in sorted({Path(sys.prefix).resolve(), ROOT.resolve()}):
        if path.is_relative_to("/tmp"):
            inside = shlex.quote(str(private_tmp / path.relative_to("/tmp")))
            keep += f"mkdir -p {inside} && mount --bind {shlex.quote(str(path))} {inside} && "
    shell = f'mount --bind "$1" /etc && {keep}mount --rbind "$2" /tmp && cd /tmp/work && {driver}'
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "PUSHSIM_DIR": pushsim_dir}
    proc = subprocess.Popen(["unshare", "--mount", "sh", "-c", shell, "sh", str(etc), str(private_tmp)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the simulator the recipe left running in the background
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, output
    assert "1 passed" in output, output
    hosts = (etc / "hosts").read_text()
    assert "api.sandbox.push.apple.com" in hosts and (etc / "hosts.pushsim.bak").exists()
    return work


@pytest.mark.parametrize("recipe", ["github", "gitlab"])
def test_ci_recipe_runs_as_written(recipe: str, tmp_path: Path) -> None:
    """docs/ci-recipes.md §1 (GitHub Actions) and §2 (GitLab CI): every shell step, verbatim, passes; the user's
    test pushes through aioapns unmodified; the notification log artifact holds that push."""
    _require_namespace_tools()
    if recipe == "github":
        lines = _yaml_block("## 1. GitHub Actions")
        scripts = _without_install(github_steps(lines))
        pushsim_dir = _variable(lines, "PUSHSIM_DIR")
    else:
        lines = _yaml_block("## 2. GitLab CI")
        scripts = ["\n".join(_without_install(gitlab_script(lines))) + "\n"]
        pushsim_dir = _variable(lines, "PUSHSIM_DIR")
    assert len(scripts) == (5 if recipe == "github" else 1), scripts
    work = _run_in_namespace(tmp_path, scripts, pushsim_dir)
    log = json.loads((work / "notifications.json").read_text())
    assert [n["status"] for n in log] == [200] and log[0]["topic"] == "com.example.app"
    assert (work / "pushsim-serve.log").exists()

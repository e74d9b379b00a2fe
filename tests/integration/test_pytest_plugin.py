"""The pytest plugin (docs/architecture.md contract 7), proved the way another project would use it.

``tests/plugin_user/`` is such a project: its own ``pytest.ini``, its own sending code, only the plugin's
fixtures. It is copied out of this repository and run in a fresh pytest process. When pushsim is installed
(as CI installs it), the plugin comes from the package's ``pytest11`` entry point and the package itself;
from a bare checkout it is loaded with ``-p pushsim.pytest_plugin`` and the checkout on PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from device_sim import Phone
from provider.apns import load_cer_and_p12, load_p12, load_pem, load_pem_pair
from pushsim import IPhoneFactory, RunningSimulator

ROOT = Path(__file__).resolve().parents[2]
USER_SUITE = ROOT / "tests" / "plugin_user"
USER_TESTS = {
    "test_order_shipped_reaches_the_app", "test_token_auth_keeps_working_past_an_hour",
    "test_a_third_party_client_aioapns", "test_every_test_gets_a_fresh_simulator",
    "test_uninstalled_app_token_is_dropped_once_apns_says_410",
}


def _installed() -> bool:
    return any(ep.value == "pushsim.pytest_plugin" for ep in entry_points(group="pytest11", name="pushsim"))


def run_user_pytest(project: Path, report: Path) -> tuple[subprocess.CompletedProcess[str], ET.Element]:
    """Run pytest in ``project`` as its owner would; returns the process and the JUnit ``testsuite``."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if not _installed():
        command += ["-p", "pushsim.pytest_plugin"]
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    out = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    return out, suite


def test_the_user_suite_passes_in_its_own_pytest_process(tmp_path: Path) -> None:
    project = tmp_path / "user_project"
    shutil.copytree(USER_SUITE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    out, suite = run_user_pytest(project, tmp_path / "report.xml")
    counts = {k: int(suite.get(k, "-1")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": len(USER_TESTS), "failures": 0, "errors": 0, "skipped": 0}, out.stdout
    assert {case.get("name") for case in suite.iter("testcase")} == USER_TESTS
    assert f"{len(USER_TESTS)} passed" in out.stdout


def test_the_readme_example_passes_as_written(tmp_path: Path) -> None:
    """The README's "pytest plugin" example, run as a user's test file (so the README cannot rot)."""
    section = (ROOT / "README.md").read_text().split("## pytest plugin", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    project = tmp_path / "readme_project"
    project.mkdir()
    (project / "test_readme_example.py").write_text(code)
    shutil.copy(USER_SUITE / "pytest.ini", project / "pytest.ini")
    out, suite = run_user_pytest(project, tmp_path / "report.xml")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0"), out.stdout


def test_the_package_declares_the_entry_point_and_ships_the_plugin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"pushsim": "pushsim.pytest_plugin"}
    assert "pushsim*" in project["tool"]["setuptools"]["packages"]["find"]["include"]


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Projects with pushsim installed pay nothing until a test asks for a fixture."""
    code = ("import sys, pushsim.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apns_sim', 'device_sim', 'provider')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"


# -- the helpers behind the fixtures, in process --------------------------------------------------------------


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path) as running:
        yield running


async def test_issue_certificate_writes_every_format_a_provider_reads(sim: RunningSimulator) -> None:
    bundle = sim.issue_certificate("com.example.formats", "universal")
    assert bundle.cer.read_bytes()[:1] == b"\x30"  # DER, like the portal's download
    for credentials in (load_pem_pair(bundle.cert_pem, bundle.key_pem), load_pem(bundle.pem),
                        load_p12(bundle.p12, bundle.password), load_cer_and_p12(bundle.cer, bundle.p12,
                                                                                  bundle.password)):
        assert credentials.bundle_id == "com.example.formats"
    for secret in (bundle.key_pem, bundle.pem, bundle.p12):
        assert secret.stat().st_mode & 0o777 == 0o600
    [app_id] = sim.state.registry.list_app_ids()  # created on the way, for the default team
    assert (app_id.bundle_id, app_id.team_id) == ("com.example.formats", "ABCDE12345")
    key = sim.create_auth_key("TEAM123456")
    assert key.p8_path.name == f"AuthKey_{key.key_id}.p8" and key.p8_path.stat().st_mode & 0o777 == 0o600


async def test_wait_for_notification_says_how_far_the_push_got(sim: RunningSimulator) -> None:
    with pytest.raises(TimeoutError, match=r"no notification reached presented within 0.1 s; matching ones: \[\]"):
        await sim.wait_for_notification(token="ab" * 32, stage="presented", timeout=0.1)


async def test_iphone_factory_closes_phones_in_reverse_order(sim: RunningSimulator, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    original = Phone.close

    async def recording_close(phone: Phone) -> None:
        closed.append(phone.name)
        await original(phone)

    monkeypatch.setattr(Phone, "close", recording_close)
    async with IPhoneFactory(sim.endpoints, tmp_path / "phones") as factory:
        for name in ("first", "second", "third"):
            await factory(name=name)
        assert [p.name for p in factory.phones] == ["first", "second", "third"]
        assert len(sim.state.registry.list_devices()) == 3
    assert closed == ["third", "second", "first"]
    assert factory.phones == []

"""The package boundaries of DESIGN.md ("Packages and who may import whom"), enforced by parsing imports.

The programs talk over the wire, not by import: if the provider imported the simulator's reason table,
both would agree on the same bug.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"apns_sim", "device_sim", "provider", "pushsim", "scenarios", "tests"}

# package -> what of ours it may import (module prefixes)
ALLOWED: dict[str, tuple[str, ...]] = {
    "apns_sim": ("apns_sim",),
    "device_sim": ("device_sim", "apns_sim.courier"),
    "provider": ("provider",),
    "pushsim": ("pushsim", "apns_sim", "device_sim", "provider"),
    "scenarios": ("scenarios", "apns_sim", "device_sim", "provider"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in OURS:
                # ``from apns_sim import courier`` names the submodule through the alias.
                names.extend(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append(f"<relative:{node.module}>")
    return names


def _violations(package: str, root: Path = ROOT) -> list[str]:
    allowed = ALLOWED[package]
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        for name in _imports(path):
            if name.startswith("<relative"):
                bad.append(f"{path.relative_to(root)}: relative import {name} (use absolute imports)")
                continue
            top = name.split(".")[0]
            if top not in OURS:
                continue
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                bad.append(f"{path.relative_to(root)} imports {name}")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_design_allows(package: str) -> None:
    """DESIGN.md: apns_sim imports nothing of ours; device_sim only apns_sim.courier; provider nothing."""
    assert (ROOT / package).is_dir()
    assert _violations(package) == []


def test_courier_codec_imports_nothing_of_ours() -> None:
    """device_sim may import apns_sim.courier, so the codec itself must stand alone."""
    names = _imports(ROOT / "apns_sim" / "courier.py")
    assert [n for n in names if n.split(".")[0] in OURS] == []


def test_the_checker_catches_forbidden_imports(tmp_path: Path) -> None:
    """The checker itself can fail: forbidden and relative imports are reported, allowed ones are not."""
    (tmp_path / "provider").mkdir()
    (tmp_path / "provider" / "bad.py").write_text("from apns_sim.reasons import Reason\nimport provider.apns\n")
    (tmp_path / "device_sim").mkdir()
    (tmp_path / "device_sim" / "ok.py").write_text("from apns_sim import courier\nfrom . import app\n")
    assert _violations("provider", tmp_path) == ["provider/bad.py imports apns_sim.reasons"]
    assert _violations("device_sim", tmp_path) == [
        "device_sim/ok.py: relative import <relative:None> (use absolute imports)"
    ]

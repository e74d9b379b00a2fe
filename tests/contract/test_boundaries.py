"""The package boundaries of docs/architecture.md ("Packages and who may import whom"), enforced by parsing imports.

The programs talk over the wire, not by import: if the provider imported the simulator's reason table,
both would agree on the same bug.
"""

from __future__ import annotations

import ast
from collections.abc import Container
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"apns_sim", "device_sim", "provider", "pushsim", "pushsim_i18n", "scenarios", "tests"}

# package -> what of ours it may import (module prefixes)
ALLOWED: dict[str, tuple[str, ...]] = {
    "apns_sim": ("apns_sim", "pushsim_i18n"),
    "device_sim": ("device_sim", "apns_sim.courier", "pushsim_i18n"),
    "provider": ("provider", "pushsim_i18n"),
    "pushsim": ("pushsim", "apns_sim", "device_sim", "provider", "pushsim_i18n"),
    "scenarios": ("scenarios", "apns_sim", "device_sim", "provider", "pushsim_i18n"),
    # Every program's messages in two languages: a leaf all of them use, so it uses none of them.
    "pushsim_i18n": ("pushsim_i18n",),
}


def _imports(path: Path, known: Container[str] | None = None) -> list[str]:
    """Every module ``path`` imports (TYPE_CHECKING blocks included: a circle there is still one).

    ``from X import Y`` names ``X.Y`` when that is a module: without ``known``, when X is one of our top-level
    packages (``from apns_sim import courier``); with ``known``, when ``X.Y`` is one of the modules in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if known is not None:
                names.extend(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                             for alias in node.names)
            elif node.module in OURS:
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
    """docs/architecture.md: apns_sim imports nothing of ours; device_sim only apns_sim.courier; provider nothing
    (each may use pushsim_i18n, the leaf that holds every program's messages)."""
    assert (ROOT / package).is_dir()
    assert _violations(package) == []


def test_courier_codec_imports_nothing_of_ours() -> None:
    """device_sim may import apns_sim.courier, so the codec itself must stand alone."""
    names = _imports(ROOT / "apns_sim" / "courier.py")
    assert [n for n in names if n.split(".")[0] in OURS] == []


def test_the_checker_catches_forbidden_imports(tmp_path: Path) -> None:
    """The checker itself can fail: forbidden and relative imports are reported, allowed ones are not."""
    (tmp_path / "provider").mkdir()
    (tmp_path / "provider" / "bad.py").write_text("from apns_sim.push.reasons import Reason\nimport provider.apns\n")
    (tmp_path / "device_sim").mkdir()
    (tmp_path / "device_sim" / "ok.py").write_text("from apns_sim import courier\nfrom . import app\n")
    assert _violations("provider", tmp_path) == ["provider/bad.py imports apns_sim.push.reasons"]
    assert _violations("device_sim", tmp_path) == [
        "device_sim/ok.py: relative import <relative:None> (use absolute imports)"
    ]


# --- Inside apns_sim and device_sim: rooms in layers (docs/architecture.md, "Layers") ---------------------

# room (the first name under the package) -> layer. A module may import its own room and rooms on lower
# layers only: never up, never sideways (provider_api, gateway and legacy, phone and fleet, never see each other).
LAYERS: dict[str, dict[str, int]] = {
    "apns_sim": {
        "errors": 0, "courier": 0, "limits": 0,
        "pki": 1, "model": 1,
        "push": 2, "delivery": 2, "portal": 2,
        "faults": 3,
        "state": 4,
        "provider_api": 5, "gateway": 5, "legacy": 5,
        "admin": 6,
        "simulator": 7,
        "cli": 8,
        "__init__": 9,  # the lazy face
    },
    "device_sim": {
        "errors": 0,
        "rules": 1, "identity": 1,
        "connection": 2, "app": 2,
        "phone": 3, "fleet": 3,
        "cli": 4,
        "__init__": 5,  # the face
    },
}

# The sans-IO cores: plain synchronous code that a unit test drives without sockets or an event loop.
CORE: dict[str, tuple[str, ...]] = {
    "apns_sim": ("apns_sim.errors", "apns_sim.courier", "apns_sim.limits", "apns_sim.pki", "apns_sim.model",
                 "apns_sim.push", "apns_sim.delivery", "apns_sim.portal", "apns_sim.faults", "apns_sim.state",
                 "apns_sim.provider_api.connection", "apns_sim.provider_api.strict_h2",
                 "apns_sim.provider_api.hpack_cache", "apns_sim.provider_api.service",
                 "apns_sim.provider_api.intake", "apns_sim.gateway.session", "apns_sim.gateway.throttle",
                 "apns_sim.legacy.frames", "apns_sim.legacy.feedback", "apns_sim.legacy.service"),
    "device_sim": ("device_sim.errors", "device_sim.rules", "device_sim.identity.store"),
}
IO_MODULES = ("asyncio", "aiohttp", "ssl", "socket")
MAX_LINES = 500


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str, root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}


def _targets(path: Path, known: dict[str, Path]) -> list[str]:
    """Every module of ours ``path`` imports, resolved against the modules in ``known``."""
    return [name for name in _imports(path, known) if name.split(".")[0] in OURS]


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer_violations(package: str, root: Path = ROOT) -> list[str]:
    layers = LAYERS[package]
    mods = _modules(package, root)
    bad = []
    for name, path in mods.items():
        here = _room(name)
        if here not in layers:
            bad.append(f"{name}: room {here!r} is not in the layer table")
            continue
        for target in _targets(path, mods):
            there = _room(target)
            if target.split(".")[0] != package or there == here:
                continue
            if there not in layers or layers[there] >= layers[here]:
                bad.append(f"{name} (layer {layers[here]}) imports {target} (layer {layers.get(there)})")
    return bad


def _core_violations(package: str, root: Path = ROOT) -> list[str]:
    mods = _modules(package, root)
    bad = [f"{core} is missing" for core in CORE[package] if core not in mods]
    for name, path in mods.items():
        if any(name == c or name.startswith(c + ".") for c in CORE[package]):
            bad.extend(f"{name} imports {imp}" for imp in _imports(path) if imp.split(".")[0] in IO_MODULES)
    return bad


def _cycles(root: Path = ROOT) -> list[list[str]]:
    """Import circles between modules of ours (Tarjan's strongly connected components of size > 1)."""
    mods: dict[str, Path] = {}
    for package in ALLOWED:
        mods.update(_modules(package, root))
    graph = {name: [t for t in _targets(path, mods) if t in mods and t != name] for name, path in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_between_rooms_only_point_down_the_layer_table(package: str) -> None:
    """docs/architecture.md "Layers": a room imports its own modules and lower layers only."""
    assert _layer_violations(package) == []


@pytest.mark.parametrize("package", sorted(CORE))
def test_core_modules_import_no_event_loop_tls_or_sockets(package: str) -> None:
    """docs/architecture.md "Inside each package": the cores are sans-IO (docs/style.md habit 4)."""
    assert _core_violations(package) == []


def test_there_are_no_import_circles() -> None:
    """No module of ours reaches itself through its imports, TYPE_CHECKING imports included."""
    assert _cycles() == []


def test_at_most_one_module_is_over_the_size_limit_and_it_says_why() -> None:
    """docs/style.md habit 12: a module past ~400 lines is usually two concepts. One may stay longer, and
    its docstring must say why."""
    long = {}
    for package in ALLOWED:
        for name, path in _modules(package).items():
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                long[name] = path
    assert list(long) == ["apns_sim.courier"]
    doc = ast.get_docstring(ast.parse(long["apns_sim.courier"].read_text(encoding="utf-8"))) or ""
    assert f"over {MAX_LINES} lines" in doc


def test_the_layer_cycle_and_core_checkers_can_fail(tmp_path: Path) -> None:
    """The checkers themselves report an upward import, a circle and an event loop in a core module."""
    (tmp_path / "apns_sim" / "model").mkdir(parents=True)
    (tmp_path / "apns_sim" / "admin").mkdir()
    (tmp_path / "apns_sim" / "model" / "clock.py").write_text("from apns_sim.admin.app import app\n")
    (tmp_path / "apns_sim" / "admin" / "app.py").write_text("from apns_sim.model import clock\n")
    assert _layer_violations("apns_sim", tmp_path) == [
        "apns_sim.model.clock (layer 1) imports apns_sim.admin.app (layer 6)"]
    for package in ALLOWED:
        (tmp_path / package).mkdir(exist_ok=True)
    assert _cycles(tmp_path) == [["apns_sim.admin.app", "apns_sim.model.clock"]]
    (tmp_path / "apns_sim" / "model" / "clock.py").write_text("import asyncio\n")
    assert "apns_sim.model.clock imports asyncio" in _core_violations("apns_sim", tmp_path)

"""``apns_sim.pki`` is a face over one module per concept: callers see one namespace, whatever the split."""

from __future__ import annotations

import ast
import importlib
import inspect
from types import ModuleType

import pytest

from apns_sim import pki
from apns_sim.errors import SimError

MODULES = ("encoding", "authority", "push_certificates", "keychain")


def _defined_public_names(module: ModuleType) -> list[str]:
    """Names a module defines at top level (functions, classes, constants), not the ones it imports."""
    names: list[str] = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in names if not name.startswith("_")]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_of_each_module_is_on_the_face(name: str) -> None:
    module = importlib.import_module(f"apns_sim.pki.{name}")
    own = _defined_public_names(module)
    assert own
    for attr in own:
        assert attr in pki.__all__, f"apns_sim.pki.{name}.{attr} is not re-exported"
        assert getattr(pki, attr) is getattr(module, attr)


def test_the_face_exports_only_what_exists_and_pki_errors_are_sim_errors() -> None:
    assert all(hasattr(pki, attr) for attr in pki.__all__)
    assert issubclass(pki.PkiError, SimError)

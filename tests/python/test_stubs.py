"""The extension's type stubs (the stub package python/bootmirror/_core/: __init__.pyi and one stub
per submodule, gpt, ldm, dynamic and mirror) name every public object of the extension and of each
submodule, and only those: a binding added without its stub fails here. mypy reads them as they
are (tests/python/test_examples.py types a user's suite against them with mypy --strict)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bootmirror._core as core

STUBS = Path(__file__).resolve().parents[2] / "python" / "bootmirror" / "_core"
SUBMODULES = ("gpt", "ldm", "dynamic", "mirror")


def _stub_names(stub: Path) -> set:
    tree = ast.parse(stub.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom) and node.module is None:
            # Re-exported (from . import gpt as gpt), not names a submodule's stub borrows.
            names.update(alias.name for alias in node.names if alias.asname == alias.name)
    return names


def _public(module) -> set:
    return {name for name in dir(module) if not name.startswith("__")}


@pytest.mark.parametrize("module", ["", *SUBMODULES])
def test_every_public_object_has_a_stub(module):
    target = getattr(core, module) if module else core
    stub = STUBS / (f"{module}.pyi" if module else "__init__.pyi")
    stubs = {name for name in _stub_names(stub) if not name.startswith("__")}
    if module == "":
        stubs.discard("Progress")  # a type alias of the stubs alone (the progress callbacks' type)
    assert sorted(_public(target) - stubs) == []
    assert sorted(stubs - _public(target)) == []


def test_every_class_member_of_the_submodules_has_a_stub():
    for module in SUBMODULES:
        tree = ast.parse((STUBS / f"{module}.pyi").read_text())
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            members = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            members |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
            runtime = {name for name in vars(getattr(getattr(core, module), node.name)) if not name.startswith("_")}
            assert sorted(runtime - members) == [], f"{module}.{node.name}"


def test_the_stubs_pass_mypy_strict():
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
                              str(STUBS)], capture_output=True, text=True, cwd=STUBS.parents[1])
    assert checked.returncode == 0, checked.stdout + checked.stderr

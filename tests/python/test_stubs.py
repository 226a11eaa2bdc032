"""The extension's type stubs (_core.pyi) name every public object the extension has, and only
those: a binding added without its stub fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import bootmirror._core as core

STUB = Path(__file__).resolve().parents[2] / "python" / "bootmirror" / "_core.pyi"


def _stub_names() -> set:
    tree = ast.parse(STUB.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_public_object_of_the_extension_has_a_stub():
    public = {name for name in dir(core) if not name.startswith("__")}
    stubs = {name for name in _stub_names() if not name.startswith("__")}
    assert sorted(public - stubs) == []
    assert sorted(stubs - public) == []

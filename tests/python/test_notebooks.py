"""Every notebook runs top to bottom: its code cells are executed in order in one namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


def _marked(notebook: Path):
    """A notebook that boots the machine under QEMU carries the marker qemu, as every real boot
    does: the sanitizer run leaves those out (QEMU would run with the sanitizer's runtime loaded)."""
    boots = "boot_qemu" in notebook.read_text()
    return pytest.param(notebook, marks=[pytest.mark.qemu] if boots else [], id=notebook.name)


@pytest.mark.parametrize("notebook", [_marked(n) for n in NOTEBOOKS])
def test_notebook_runs(notebook, capsys):
    cells = json.loads(notebook.read_text())["cells"]
    namespace: dict = {"__name__": "__notebook__"}
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        exec(compile(source, f"{notebook.name}[cell {index}]", "exec"), namespace)

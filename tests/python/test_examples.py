"""The example suite (examples/) as a user runs it: bootmirror built into a wheel and installed into
a new virtual environment with pytest and mypy, then `pytest` over a copy of the suite (the plugin's
fixtures come from the installed package's pytest11 entry point) and `mypy --strict` over it (the
types come from the installed package: py.typed, its annotations and the stub package of _core)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import outside_tool_env
from test_packaging_and_cli import REUSE_BUILD, ROOT


@pytest.mark.install
def test_the_example_suite_passes_and_types_in_a_fresh_install(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
                            "-w", str(wheels), *REUSE_BUILD, "."],
                           cwd=ROOT, capture_output=True, text=True, env=outside_tool_env())
    assert built.returncode == 0, f"pip wheel . failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    (wheel,) = wheels.glob("bootmirror-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=outside_tool_env())
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel), "pytest", "mypy"],
                               capture_output=True, text=True, env=outside_tool_env())
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"

    # The user's project: the suite alone, no conftest of ours, no configuration of ours.
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples", project / "examples")
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("PYTHONPATH", "BOOTMIRROR_SEED", "SOURCE_DATE_EPOCH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    where = subprocess.run([str(python), "-c", "import bootmirror; print(bootmirror.__file__)"], cwd=project,
                           capture_output=True, text=True, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    tested = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples"], cwd=project,
                            capture_output=True, text=True, env=env)
    assert tested.returncode == 0, tested.stdout[-5000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout and "skipped" not in tested.stdout

    typed = subprocess.run([str(python), "-m", "mypy", "--strict", "--no-incremental", "examples"], cwd=project,
                           capture_output=True, text=True, env=outside_tool_env(env))
    assert typed.returncode == 0, typed.stdout + typed.stderr

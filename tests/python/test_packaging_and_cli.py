"""`pip install .` gives an importable package, and the command line works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import bootmirror
from conftest import outside_tool_env

ROOT = Path(__file__).resolve().parents[2]
# The C++ build the install reuses: the developer install's (build/dev). The sanitized run leaves
# these tests out (marker install): they test the packaging, not the engine.
REUSE_BUILD = ["-Cbuild-dir=build/dev", "-Ccmake.define.BOOTMIRROR_TESTS=ON"]


@pytest.mark.install
def test_pip_install_gives_an_importable_package(tmp_path):
    # A real, non-editable `pip install .` into a private folder. It reuses the C++ build of the
    # interpreter's own install, so it costs an install, not a rebuild.
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
         "--target", str(target), *REUSE_BUILD, "."],
        # Without the ASan preload of make test-asan: a rebuild runs GoogleTest's test discovery,
        # and a sanitized test binary refuses a second, preloaded ASan runtime.
        cwd=ROOT, capture_output=True, text=True, env=outside_tool_env())
    assert installed.returncode == 0, f"pip install . failed:\n{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"
    # -S: no site-packages, so the editable install of the working tree cannot answer instead.
    out = subprocess.run(
        [sys.executable, "-S", "-c",
         f"import sys; sys.path.insert(0, {str(target)!r}); import bootmirror; "
         "print(bootmirror.__version__, bootmirror.__file__, bootmirror._core.__version__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == bootmirror.__version__ == out[2]
    assert out[1].startswith(str(target))


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bootmirror", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_disk_create_and_show(tmp_path):
    image = tmp_path / "cli.img"
    created = run_cli("disk", "create", str(image), "10 GiB")
    assert created.returncode == 0, created.stderr
    assert "10,737,418,240 bytes" in created.stdout
    info = run_cli("disk", "show", str(image))
    assert info.returncode == 0 and "0 bytes allocated" in info.stdout
    again = run_cli("disk", "create", str(image), "1 MiB")
    assert again.returncode == 4 and "File exists" in again.stderr  # an OSError: exit code 4
    bad = run_cli("disk", "create", str(tmp_path / "b.img"), "lots")
    assert bad.returncode == 2 and "not a size" in bad.stderr  # a UsageError: exit code 2
    assert not (tmp_path / "b.img").exists()


def test_cli_version():
    out = run_cli("--version")
    assert out.stdout.strip() == f"bootmirror {bootmirror.__version__}"



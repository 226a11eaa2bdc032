"""Shared fixtures. Outside tools (sgdisk, fsck.fat, mtools, ldmtool, ...) are required: the
Makefile installs them, and a missing one fails the test rather than skipping it, so CI can never
pass without its outside readers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


def require_tool(name: str) -> str:
    """The path of an outside tool; fails the test (never skips) when it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        pytest.fail(f"outside tool '{name}' is not installed; run 'make test' (it installs the Debian packages)")
    return path


def run_tool(args: List[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run an outside tool, capturing text output; the first argument is looked up by require_tool."""
    exe = require_tool(args[0])
    return subprocess.run([exe, *args[1:]], capture_output=True, text=True, check=check, **kwargs)


@pytest.fixture
def tool():
    return require_tool


@pytest.fixture(autouse=True)
def _random_identity_by_default():
    """Each test starts from the environment's identity settings and cannot leak its own."""
    import bootmirror._core as core

    core._identity_from_environment()
    yield
    core._identity_from_environment()


def pytest_terminal_summary(terminalreporter):
    """How many crash states each operation of the crash suite (tests/python/crash) was tried in."""
    import sys

    helpers = sys.modules.get("crash_helpers")
    if helpers is None or not helpers.TRIED:
        return
    terminalreporter.section("crash states tried")
    for name, count in sorted(helpers.TRIED.items()):
        terminalreporter.write_line(f"{name:48} {count:6}")
    terminalreporter.write_line(f"{'total':48} {sum(helpers.TRIED.values()):6}")

"""Shared fixtures. Outside tools (sgdisk, fsck.fat, mtools, ldmtool, ...) are required: the
Makefile installs them, and a missing one fails the test rather than skipping it, so CI can never
pass without its outside readers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


def require_tool(name: str) -> str:
    """The path of an outside tool; fails the test (never skips) when it is not installed. Tools
    from PyPI (virt-fw-vars) are found beside the interpreter, in the virtualenv's scripts."""
    path = (shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
            or shutil.which(name, path=sysconfig.get_path("scripts")))
    if path is None:
        pytest.fail(f"outside tool '{name}' is not installed; run 'make test' (it installs the Debian packages)")
    return path


def outside_tool_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment an outside tool runs in: `env` (default: ours) without LD_PRELOAD, which
    make test-asan sets to load the ASan runtime into our interpreters; loaded into sgdisk or
    ldmtool it only triples their start-up time, and the crash suite starts them thousands of times."""
    env = dict(os.environ if env is None else env)
    env.pop("LD_PRELOAD", None)
    return env


def run_tool(args: List[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run an outside tool, capturing text output; the first argument is looked up by require_tool."""
    exe = require_tool(args[0])
    kwargs["env"] = outside_tool_env(kwargs.get("env"))
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


# Crash states counted by pytest-xdist's workers (make test runs pytest with -n), sent to the
# controlling process when each worker ends.
_WORKER_CRASH_STATES: Counter = Counter()


def _crash_states_here() -> Counter:
    import sys

    helpers = sys.modules.get("crash_helpers")
    return Counter(helpers.TRIED) if helpers is not None else Counter()


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker
        workeroutput["crash_states"] = dict(_crash_states_here())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKER_CRASH_STATES.update(getattr(node, "workeroutput", {}).get("crash_states", {}))


def pytest_terminal_summary(terminalreporter):
    """How many crash states each operation of the crash suite (tests/python/crash) was tried in."""
    tried = _crash_states_here() + _WORKER_CRASH_STATES
    if not tried:
        return
    terminalreporter.section("crash states tried")
    for name, count in sorted(tried.items()):
        terminalreporter.write_line(f"{name:48} {count:6}")
    terminalreporter.write_line(f"{'total':48} {sum(tried.values()):6}")

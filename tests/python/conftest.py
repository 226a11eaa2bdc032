"""Shared fixtures. Outside tools (sgdisk, fsck.fat, mtools, ldmtool, ...) are required: the
Makefile installs them, and a missing one fails the test rather than skipping it, so CI can never
pass without its outside readers. The same holds for the test data the repository does not carry
(the runbook's transcripts, the Windows images): `data_file` finds it, for every test and notebook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import pytest

# -- test data ---------------------------------------------------------------------------------------
# The files some tests and notebooks read that the repository does not hold (README.md, "Test
# data"). This is the one place that knows where they lie: the folder named by BOOTMIRROR_TEST_DATA,
# by default the folder `shared` beside the repository. A relative value is taken from the
# repository root, as the default is, so pytest, CTest (in a build folder) and Jupyter (in
# notebooks/) find the same folder; tests/cpp/test_data.h does the same for the C++ tests.

REPOSITORY = Path(__file__).resolve().parents[2]
DATA_VARIABLE = "BOOTMIRROR_TEST_DATA"
DATA_DEFAULT = "../shared"
#: Microsoft KB 814070 with the screens of every step: what the scenario tests replay.
RUNBOOK = "seed/kb814070-gpt-boot-mirror.txt"
#: The 19 dynamic disks Windows Server 2003 R2 and 2008 R2 made (libldm's test data).
WINDOWS_IMAGES = "data/ldm-windows/ldm-data.tar.xz"


def data_folder() -> Path:
    """The test data folder: $BOOTMIRROR_TEST_DATA, else the default, from the repository root."""
    return (REPOSITORY / (os.environ.get(DATA_VARIABLE) or DATA_DEFAULT)).resolve()


def data_file(name: str, folder: Optional[os.PathLike] = None) -> Path:
    """The file `name` (RUNBOOK, WINDOWS_IMAGES) of the test data folder, or of `folder` when given.
    When it is not there the test fails (never skips, in CI or out of it), naming the file and the
    variable to set; tests that do not read the data are not affected."""
    path = Path(folder).resolve() / name if folder is not None else data_folder() / name
    if not path.is_file():
        pytest.fail(f"test data missing: {path}; set {DATA_VARIABLE} to the folder that holds {name} "
                    f"(README.md, \"Test data\")", pytrace=False)
    return path


def runbook_text() -> str:
    """The runbook's text (RUNBOOK); the test fails, naming the file, when it is missing."""
    return data_file(RUNBOOK).read_text(encoding="utf-8")


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

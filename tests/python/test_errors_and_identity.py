"""The error hierarchy and the one source of identifiers and times."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

import bootmirror
from bootmirror import Error, FormatError, UsageError


def test_error_hierarchy():
    assert issubclass(FormatError, Error) and issubclass(UsageError, Error)
    assert issubclass(Error, Exception) and not issubclass(Error, OSError)
    assert FormatError.__module__ == "bootmirror" and UsageError.__name__ == "UsageError"
    with pytest.raises(Error):
        bootmirror.parse_size("lots")


def test_crc32_matches_zlib():
    import zlib

    for data in (b"", b"123456789", os.urandom(4097)):
        assert bootmirror.crc32(data) == zlib.crc32(data)


def test_new_guid_is_random_by_default():
    guids = {bootmirror.new_guid() for _ in range(100)}
    assert len(guids) == 100
    assert all(g[14] == "4" for g in guids)


def test_deterministic_repeats_identifiers_and_freezes_the_clock():
    with bootmirror.deterministic(seed=7, epoch=1_700_000_000):
        first = [bootmirror.new_guid() for _ in range(3)]
        assert bootmirror.now() == (1_700_000_000, 0)
    with bootmirror.deterministic(seed=7, epoch=1_700_000_000):
        assert [bootmirror.new_guid() for _ in range(3)] == first
    with bootmirror.deterministic(seed=8, epoch=None):
        assert bootmirror.new_guid() not in first
        assert bootmirror.now()[0] > 1_700_000_000


def test_deterministic_restores_previous_settings():
    before = bootmirror._core._identity_settings()
    with bootmirror.deterministic(1, 2):
        assert bootmirror._core._identity_settings() == (1, 2)
    assert bootmirror._core._identity_settings() == before


def _run_with_env(code: str, **env: str) -> str:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "BOOTMIRROR_SEED")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True,
                          check=True).stdout


def test_environment_variables_make_runs_reproducible(tmp_path):
    code = "import bootmirror; print(bootmirror.new_guid(), bootmirror.now())"
    a = _run_with_env(code, SOURCE_DATE_EPOCH="1234567890", BOOTMIRROR_SEED="99")
    b = _run_with_env(code, SOURCE_DATE_EPOCH="1234567890", BOOTMIRROR_SEED="99")
    c = _run_with_env(code)
    assert a == b and "(1234567890, 0)" in a
    assert c != a


def test_bad_environment_values_are_usage_errors():
    env = {k: v for k, v in os.environ.items()}
    env["BOOTMIRROR_SEED"] = "not-a-number"
    result = subprocess.run([sys.executable, "-c", "import bootmirror; bootmirror.new_guid()"], env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "bootmirror.UsageError" in result.stderr and "BOOTMIRROR_SEED" in result.stderr

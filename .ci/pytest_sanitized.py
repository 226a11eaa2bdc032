"""pytest for make test-asan: runs only when the interpreter imports the sanitized extension.

A run that silently imported the normal build (an editable install, a stray PYTHONPATH) would pass
having tested nothing under the sanitizers, so before pytest starts this checks, in the very
interpreter pytest will use, that ``bootmirror._core`` lies inside this virtualenv and is built
with AddressSanitizer, and that the ASan runtime is loaded. Arguments go to pytest.
"""

import sys
from pathlib import Path

import bootmirror._core as core

extension = Path(core.__file__).resolve()
if Path(sys.prefix).resolve() not in extension.parents:
    sys.exit(f"pytest_sanitized: bootmirror._core comes from {extension}, outside {sys.prefix}")
if b"__asan_init" not in extension.read_bytes():
    sys.exit(f"pytest_sanitized: {extension} is not built with AddressSanitizer")
with open("/proc/self/maps") as maps:
    if "libclang_rt.asan" not in maps.read():
        sys.exit("pytest_sanitized: the ASan runtime is not loaded (LD_PRELOAD it)")

import pytest  # noqa: E402  (after the checks: nothing of pytest runs against the wrong build)

print(f"pytest_sanitized: {extension} (AddressSanitizer, UndefinedBehaviorSanitizer)", flush=True)
sys.exit(pytest.main(sys.argv[1:]))

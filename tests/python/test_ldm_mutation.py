"""Mutation test of the LDM reader (issue 9): seeded random damage to the metadata of our own groups
(MBR on 512- and 4096-byte sectors, GPT) and of the 19 Windows images; every case is opened and
explored in full (ldm_mutation.py). Only bootmirror errors and OSError may come out, never a crash
or a hang, and no byte of any image may change. Most cases run in this process; a sample runs in
child processes, where a crash shows as a signal instead of killing pytest. A failing case prints
its JSON: `python tests/python/ldm_mutation.py '<json>'` replays it (after applying its damage)."""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import ldm_mutation
from ldm_helpers import unpack_windows

SEED = 20261201
# make test-asan runs fewer cases (BOOTMIRROR_MUTATION_CASES): the sanitizers look for bad accesses
# on the decoders' paths, which a few hundred cases reach, and the normal build runs all 500.
IN_PROCESS_CASES = int(os.environ.get("BOOTMIRROR_MUTATION_CASES", "500"))
CHILD_CASES = 8
# A case that takes longer than this hangs (each takes well under a second, sanitized included).
HANG_SECONDS = 60


def file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ldm-mutation")
    bases = ldm_mutation.make_ours(folder) + ldm_mutation.windows_bases(unpack_windows(folder))
    regions = {p: ldm_mutation.regions(p, b["sector_size"]) for b in bases for p in b["paths"]}
    hashes = {p: file_hash(p) for b in bases for p in b["paths"]}
    yield bases, regions
    # No case may leave a byte changed (apply/restore undo exactly what the case wrote).
    assert {p: file_hash(p) for p in hashes} == hashes


def cases(bases, regions, count, seed):
    rng = random.Random(seed)
    # Our groups are small and fast; the Windows sets carry most of the real-world variety.
    weights = [1 if b["name"].startswith("ours") else 1.5 for b in bases]
    return [ldm_mutation.make_case(rng, rng.choices(bases, weights=weights)[0], regions) for _ in range(count)]


def test_random_damage_to_ldm_metadata_never_escapes_as_anything_but_bootmirror_errors(bases):
    bases, regions = bases
    try:
        for n, case in enumerate(cases(bases, regions, IN_PROCESS_CASES, SEED)):
            # Restarted for each case: a hang in one ends the run with a traceback.
            faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
            try:
                problem = ldm_mutation.check(case)
            except Exception as error:  # not a bootmirror error: the case fails
                raise AssertionError(f"case {n} raised {type(error).__name__}: {error}\n{json.dumps(case)}") from error
            assert problem is None, f"case {n}: {problem}\n{json.dumps(case)}"
    finally:
        faulthandler.cancel_dump_traceback_later()


def test_a_sample_of_cases_in_child_processes(bases):
    bases, regions = bases
    script = Path(ldm_mutation.__file__)
    for n, case in enumerate(cases(bases, regions, CHILD_CASES, SEED + 1)):
        undo = ldm_mutation.apply(case)
        try:
            result = subprocess.run([sys.executable, str(script), json.dumps(case)], capture_output=True, text=True, timeout=120)
        finally:
            ldm_mutation.restore(case, undo)
        assert result.returncode == 0, f"child case {n} ended with {result.returncode}: {result.stderr[-2000:]}\n{json.dumps(case)}"

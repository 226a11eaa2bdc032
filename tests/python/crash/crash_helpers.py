"""The crash-consistency suite's common parts: run an operation under the write-back model
(bootmirror.crash), turn each crash state into image files for the outside readers, and count the
states tried per operation (printed at the end of the run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, List, Sequence, Tuple

import bootmirror
from bootmirror import Disk, crash

# Seeded: a failing state is reproduced from its description (crash point and seed).
SEED = int(os.environ.get("BOOTMIRROR_CRASH_SEED", "20261201"))
RANDOM_PER_POINT = int(os.environ.get("BOOTMIRROR_CRASH_RANDOM", "6"))

TRIED: Counter = Counter()


EPOCH = 1_750_000_000


def _repeatable(operation: Callable[[List[Disk]], object]) -> Callable[[List[Disk]], object]:
    """The operation with identifiers and times frozen, so two runs write the same bytes."""

    def run(disks: List[Disk]) -> object:
        with bootmirror.deterministic(seed=SEED, epoch=EPOCH):
            return operation(disks)

    return run


def completed(operation: Callable[[List[Disk]], object], disks: Sequence[Disk]) -> List[Disk]:
    """Views of `disks` (left untouched) after `operation` ran to the end: the new state."""
    views = [Disk.overlay(d) for d in disks]
    _repeatable(operation)(views)
    return views


def states(operation: Callable[[List[Disk]], object], disks: Sequence[Disk], name: str,
           random_per_point: int = RANDOM_PER_POINT) -> Iterator[Tuple[crash.CrashState, List[Disk]]]:
    """Every crash state of `operation` on `disks` (left untouched), counted under `name`; the
    operation writes what it writes under completed()."""
    for state, after in crash.explore(_repeatable(operation), disks, random_per_point=random_per_point, seed=SEED):
        TRIED[name] += 1
        yield state, after


def to_file(disk: Disk, path: Path) -> Path:
    """The disk's bytes as a sparse image file, for tools that read files."""
    with open(path, "wb") as out:
        out.truncate(disk.size)
        for offset, length in disk.allocated_extents():
            for at in range(offset, offset + length, 8 << 20):
                n = min(8 << 20, offset + length - at)
                out.seek(at)
                out.write(disk.read(at, n))
    return path


def copy_folder(source: Path, target: Path) -> Path:
    """A machine folder copied with its sparse images kept sparse."""
    subprocess.run(["cp", "-r", "--sparse=always", str(source), str(target)], check=True)
    return target


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path

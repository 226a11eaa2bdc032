"""Helpers shared by the benchmarks: timing, scratch folders, cache dropping, tables."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Sequence


def best_of(repeats: int, work: Callable[[], None], setup: Callable[[], None] = lambda: None) -> float:
    """The fastest of `repeats` runs of `work`, in seconds; `setup` runs untimed before each."""
    times = []
    for _ in range(repeats):
        setup()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def rounds(cases: Dict[str, Callable[[], None]], count: int = 7) -> Dict[str, List[float]]:
    """Each case's times over `count` rounds, in seconds. Every round runs every case once, back
    to back, in an order that rotates from round to round, so that a busy moment of the machine
    falls on each side alike."""
    names = list(cases)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(count):
        for name in names[r % len(names):] + names[: r % len(names)]:
            started = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - started)
    return times


def min_median(times: Sequence[float], scale: float = 1e3, unit: str = "ms") -> str:
    """'min / median unit' of a list of seconds."""
    return f"{min(times) * scale:.1f} / {statistics.median(times) * scale:.1f} {unit}"


def run(args: Sequence[str]) -> None:
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"benchmark peer '{tool}' is not installed (make bench installs it)")
    return path


def fsync(path: Path) -> None:
    """Make a file's written pages durable, as a peer tool's copy must be to compare with ours."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_cache(path: Path) -> None:
    """Ask the kernel to forget a file's cached pages so the next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A scratch folder beside the repository (same file system as the build, not tmpfs)."""
    root = Path(__file__).resolve().parents[1] / "bench-out"
    root.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def small_file_tree(root: Path, files: int = 10_000) -> int:
    """`files` files of 200 B to 6 KiB in 100-file folders, three levels deep; their total bytes."""
    rnd = random.Random(1)
    total = 0
    for i in range(files):
        folder = root / f"level{i % 4}" / f"group {i // 1000:02}" / f"folder {i // 100:03}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(rnd.randint(200, 6000))
        (folder / f"file number {i:05}.dat").write_bytes(data)
        total += len(data)
    return total


def table(header: Sequence[str], rows: List[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])

"""Helpers shared by the benchmarks: timing in rotating rounds, floors, scratch folders, cache
dropping, tables.

Every case runs ROUNDS rounds (at least 5); a round runs bootmirror, its peer and the floor back to
back, in an order that rotates from round to round, and the table gives min and median of each and
two ratios of medians: the peer's time over ours (>1: bootmirror faster) and ours over the floor's
(1.00: at what the machine allows). Nothing here asserts a time."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence


def best_of(repeats: int, work: Callable[[], None], setup: Callable[[], None] = lambda: None) -> float:
    """The fastest of `repeats` runs of `work`, in seconds; `setup` runs untimed before each."""
    times = []
    for _ in range(repeats):
        setup()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


ROUNDS = 5


def rounds(cases: Dict[str, Callable[[], None]], count: int = 7,
           setups: Optional[Dict[str, Callable[[], None]]] = None) -> Dict[str, List[float]]:
    """Each case's times over `count` rounds, in seconds. Every round runs every case once, back
    to back, in an order that rotates from round to round, so that a busy moment of the machine
    falls on each side alike. `setups[name]`, when given, runs untimed before each run of `name`."""
    names = list(cases)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(count):
        for name in names[r % len(names):] + names[: r % len(names)]:
            if setups and name in setups:
                setups[name]()
            started = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - started)
    return times


def med(times: Sequence[float]) -> float:
    return statistics.median(times)


HEADER = ("case", "bootmirror (min / median)", "peer", "peer (min / median)", "floor", "floor (min / median)",
          "peer / bootmirror", "bootmirror / floor")


def row(case: str, times: Dict[str, List[float]], peer: str, floor: str, scale: float = 1e3, unit: str = "ms",
        ours: str = "bootmirror", peer_key: str = "peer", floor_key: str = "floor") -> tuple:
    """A table row: ours, the peer and the floor as min / median, and the two ratios of medians
    (peer over ours: >1 means bootmirror is faster; ours over floor: 1.00 means at the floor)."""
    mine = times[ours]
    peer_times, floor_times = times.get(peer_key), times.get(floor_key)
    return (
        case,
        min_median(mine, scale, unit),
        peer if peer_times else "—",
        min_median(peer_times, scale, unit) if peer_times else "—",
        floor if floor_times else "—",
        min_median(floor_times, scale, unit) if floor_times else "—",
        f"{med(peer_times) / med(mine):.2f}x" if peer_times else "—",
        f"{med(mine) / med(floor_times):.2f}x" if floor_times else "—",
    )


def print_table(title: str, rows: List[Sequence[str]]) -> None:
    print(f"{title}\n")
    print(table(HEADER, rows))


def build_tool(source: str, folder: Path, shared: bool = False) -> Path:
    """Compiles benchmarks/`source` (floors.cpp, nosleep.c) into `folder`; its path."""
    src = Path(__file__).resolve().parent / source
    out = folder / (src.stem + (".so" if shared else ""))
    compiler = require("g++" if src.suffix == ".cpp" else "gcc")
    args = [compiler, "-O2", *(["-std=c++20"] if src.suffix == ".cpp" else []),
            *(["-shared", "-fPIC"] if shared else []), "-o", str(out), str(src)]
    subprocess.run(args, check=True)
    return out


def min_median(times: Sequence[float], scale: float = 1e3, unit: str = "ms") -> str:
    """'min / median unit' of a list of seconds."""
    def fmt(x: float) -> str:
        x *= scale
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"
    return f"{fmt(min(times))} / {fmt(statistics.median(times))} {unit}"


def run(args: Sequence[str], env: Optional[Dict[str, str]] = None) -> None:
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def windows_images(out: Path) -> List[Path]:
    """The 19 Windows LDM images of the test data folder, unpacked into `out`, through the tests'
    own helper (tests/python/ldm_helpers.py: it alone, with conftest.py, knows where the data is)."""
    tests = Path(__file__).resolve().parents[1] / "tests" / "python"
    if str(tests) not in sys.path:
        sys.path.insert(0, str(tests))
    from ldm_helpers import unpack_windows

    return unpack_windows(out)


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

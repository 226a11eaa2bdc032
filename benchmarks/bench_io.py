#!/usr/bin/env python3
"""Sequential I/O through ImageFile (bootmirror.Disk) against dd bs=4M, with the floor a plain
pread/pwrite loop with a page-aligned buffer (benchmarks/floors.cpp); and small reads from Python,
Disk.read and Disk.readinto of 512 bytes against os.pread and os.preadv.

- write 1 GiB in 4 MiB requests, then fsync (every side writes a fresh file);
- read 1 GiB in 4 MiB requests from a cold cache (each side's file dropped from the page cache
  before each run) and from a hot one (the same file, cached);
- 512-byte reads at 4 KiB from the page cache, each timing a batch of 20,000 calls; the floor is
  the same 20,000 preads from C (floors.cpp `preads`), timed inside its process.

Our reads go into bootmirror.buffer (page-aligned): the buffer the README tells a loop to use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, build_tool, drop_cache, print_table, require, rounds, row, run, scratch  # noqa: E402

import bootmirror  # noqa: E402

CHUNK = 4 << 20
TOTAL = 1 << 30
CALLS = 20_000
FLOOR_PREADS = "pread loop in C"


def main() -> int:
    dd = require("dd")
    rows = []
    with scratch("io") as folder:
        floors = str(build_tool("floors.cpp", folder))
        files = {side: folder / f"{side}.img" for side in ("bootmirror", "peer", "floor")}
        block = bootmirror.buffer(CHUNK)
        block[:] = bytes(range(256)) * (CHUNK // 256)

        def write_ours() -> None:
            with bootmirror.Disk.create(files["bootmirror"], TOTAL) as disk:
                for offset in range(0, TOTAL, CHUNK):
                    disk.write(offset, block)
                disk.flush()

        cases = {
            "bootmirror": write_ours,
            "peer": lambda: run([dd, "if=/dev/zero", f"of={files['peer']}", "bs=4M", f"count={TOTAL // CHUNK}", "conv=fsync"]),
            "floor": lambda: run([floors, "write", str(files["floor"]), str(TOTAL), str(CHUNK)]),
        }
        setups = {side: (lambda p=p: p.unlink(missing_ok=True)) for side, p in files.items()}
        times = rounds(cases, ROUNDS, setups)
        rows.append(row("write 1 GiB, 4 MiB requests, fsync", times, "dd bs=4M conv=fsync", "pwrite loop", 1, "s"))

        buffer = bootmirror.buffer(CHUNK)

        def read_ours() -> None:
            with bootmirror.Disk.open(files["bootmirror"]) as disk:
                for offset in range(0, TOTAL, CHUNK):
                    disk.readinto(offset, buffer)

        cases = {
            "bootmirror": read_ours,
            "peer": lambda: run([dd, f"if={files['peer']}", "of=/dev/null", "bs=4M"]),
            "floor": lambda: run([floors, "read", str(files["floor"]), str(CHUNK)]),
        }
        cold = {side: (lambda p=p: drop_cache(p)) for side, p in files.items()}
        times = rounds(cases, ROUNDS, cold)
        rows.append(row("read 1 GiB, 4 MiB requests, cold cache", times, "dd bs=4M", "pread loop", 1, "s"))
        for p in files.values():
            run(["cat", str(p)])  # into the page cache
        times = rounds(cases, ROUNDS)
        rows.append(row("read 1 GiB, 4 MiB requests, hot cache", times, "dd bs=4M", "pread loop", 1e3, "ms"))

        # Small reads from Python: the cost of a call, against the os module's.
        disk = bootmirror.Disk.open(files["bootmirror"])
        fd = os.open(files["bootmirror"], os.O_RDONLY)
        small = bytearray(512)
        batch = range(CALLS)

        def loop(call):
            def work() -> None:
                for _ in batch:
                    call()
            return work

        # The floor: the same preads from C, timed inside its process (its start-up left out).
        floor_times: list = []

        def floor() -> None:
            out = subprocess.run([floors, "preads", str(files["bootmirror"]), "4096", "512", str(CALLS)], check=True,
                                 capture_output=True, text=True)
            floor_times.append(float(out.stdout))

        def with_floor(times):
            times["floor"] = floor_times[:]
            floor_times.clear()
            return times

        per_call = 1e9 / CALLS
        times = rounds({"bootmirror": loop(lambda: disk.read(4096, 512)), "peer": loop(lambda: os.pread(fd, 512, 4096)),
                        "floor": floor}, ROUNDS)
        rows.append(row("Disk.read(4096, 512), per call", with_floor(times), "os.pread", FLOOR_PREADS, per_call, "ns"))
        times = rounds({"bootmirror": loop(lambda: disk.readinto(4096, small)),
                        "peer": loop(lambda: os.preadv(fd, [small], 4096)), "floor": floor}, ROUNDS)
        rows.append(row("Disk.readinto(4096, 512-byte bytearray), per call", with_floor(times), "os.preadv", FLOOR_PREADS,
                        per_call, "ns"))
        os.close(fd)
        disk.close()
    print_table(f"Sequential and small I/O ({ROUNDS} rounds; 1 GiB files beside the repository)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

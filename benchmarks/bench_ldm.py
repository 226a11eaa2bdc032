#!/usr/bin/env python3
"""A disk group of 32 dynamic disks holding 500 volumes (simple, spanned, striped and mirrored):
decode it, and commit one change, against `ldmtool scan` (libldm) on the same images.

The images are made once (untimed) by bootmirror; ldmtool must read them as a group, which also
proves the 500-volume database is valid for libldm. Both sides read files in the page cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, require, run, scratch, table  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import ldm  # noqa: E402

DISKS = 32
VOLUMES = 500
REPEATS = 5
DISK_SIZE = 256 << 20


def build(folder: Path):
    paths = [folder / f"disk{i:02}.img" for i in range(DISKS)]
    disks = [bootmirror.Disk.create(p, DISK_SIZE) for p in paths]
    group = ldm.DiskGroup.create("WIN-BENCH-Dg0")
    ds = [group.add_disk(d) for d in disks]
    cursor = [0] * DISKS
    step = 64  # sectors per extent

    def take(i: int, n: int = step):
        start = cursor[i]
        cursor[i] += n
        return (ds[i], start, n)

    for v in range(VOLUMES):
        a, b = v % DISKS, (v + 1) % DISKS
        kind = ("simple", "spanned", "striped", "mirrored")[v % 4]
        extents = [take(a)] if kind == "simple" else [take(a), take(b)]
        group.create_volume(f"Volume{v + 1}", kind, extents, drive_hint=None)
    group.commit()
    for d in disks:
        d.close()
    return paths


def main() -> int:
    ldmtool = require("ldmtool")
    with scratch("ldm") as folder:
        paths = build(folder)
        names = [str(p) for p in paths]

        def decode() -> None:
            group = ldm.read_group([bootmirror.Disk.open(p) for p in names])
            assert len(group.volumes) == VOLUMES and len(group.disks) == DISKS

        def scan() -> None:
            run([ldmtool, "scan", *names])

        state = {"n": 0}

        def commit_one() -> None:
            disks = [bootmirror.Disk.open(p, writable=True) for p in names]
            group = ldm.read_group(disks)
            state["n"] += 1
            group.create_volume(f"Extra{state['n']}", "simple", [(group.disks[0], 60000 + 64 * state["n"], 64)])
            group.commit()
            for d in disks:
                d.close()

        t_decode = best_of(REPEATS, decode)
        t_scan = best_of(REPEATS, scan)
        t_commit = best_of(REPEATS, commit_one)
        run([ldmtool, "scan", *names])  # the committed group still reads in libldm

    rows = [
        (f"open + decode {DISKS} disks, {VOLUMES} volumes", f"{t_decode * 1000:,.1f} ms", f"{t_scan * 1000:,.1f} ms (ldmtool scan)",
         f"{t_scan / t_decode:.2f}x"),
        ("open, decode, add 1 volume, commit to 32 disks (fsync)", f"{t_commit * 1000:,.1f} ms",
         f"{t_scan * 1000:,.1f} ms (ldmtool scan; it cannot write)", f"{t_scan / t_commit:.2f}x"),
    ]
    print(table(("case", "bootmirror", "peer", "ratio (>1: bootmirror faster)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

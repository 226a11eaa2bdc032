#!/usr/bin/env python3
"""LDM decoding against `ldmtool scan` (libldm) in the same run: a disk group of 32 dynamic disks
holding 500 volumes that bootmirror made, and the 19 disks Windows Server 2003 R2 and 2008 R2
made (the test data's data/ldm-windows, unpacked through the tests' helper).

ldmtool is a process: about 3 ms of its time is start-up, measured here on an image that holds
no LDM (it scans it and finds nothing). Each peer row comes twice: the whole process, and its
work net of that start-up (each run's time minus the start-up's median), which is what our
in-process decode compares with. No row commits: ldmtool cannot write, and a commit against a
reader compares different work. Every side reads files in the page cache.

The floor is what any LDM reader must read, timed inside a small C++ program (floors.cpp reads;
the process's start-up left out): of every disk, sector 0, on GPT the primary header and entry
array, the PRIVHEAD, and the config area's head from its TOCBLOCK to its VMDB; of one disk of the
group, from its TOCBLOCK to the end of the config bitmap, where the records are (every slot up to
the VMDB's last, which the kernel checks). bootmirror reads the same structures: of the PRIVHEAD
and TOCBLOCK copies only the first valid one, as libldm does (ldm.verify reads and checks them
all), a page at a time where the floor reads a sector. The KLOG it leaves unread, as the kernel
and libldm do (a commit reads each disk again), and a GPT's backup it reads only when the primary
is damaged, as libldm does.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, build_tool, print_table, require, rounds, row, run, scratch, windows_images  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import ldm  # noqa: E402

DISKS = 32
VOLUMES = 500
DISK_SIZE = 256 << 20
STARTUP_RUNS = 30
FLOOR = "floors reads: what any reader must read"


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


def decode_groups(sets):
    def work() -> None:
        for paths in sets:
            disks = [bootmirror.Disk.open(p) for p in paths]
            ldm.read_group(disks)
            for d in disks:
                d.close()
    return work


def floor_reads(sets, folder: Path) -> Path:
    """The list of reads floors.cpp makes for the groups' disks: "OFFSET LENGTH PATH" lines."""
    lines = []
    for paths in sets:
        disks = [bootmirror.Disk.open(p) for p in paths]
        group = ldm.read_group(disks)
        present = [disk for disk in group.disks if disk.present]
        for i, d in enumerate(present):
            ss, start, size, path = d.sector_size, d.config_start, d.config_size, d.disk.path
            head = [(0, 34 * ss), ((start + size - 1) * ss, ss)] if d.scheme == "gpt" else [(0, ss), (6 * ss, ss)]
            config = [((start + 2) * ss, 16 * ss)]
            if i == 0:  # to the end of the config bitmap that the TOCBLOCK at config+2 names
                toc = d.disk.read((start + 2) * ss, ss)
                bitmap_start, bitmap_size = int.from_bytes(toc[0x2E:0x36], "big"), int.from_bytes(toc[0x36:0x3E], "big")
                config = [((start + 2) * ss, (bitmap_start + bitmap_size - 2) * ss)]
            lines += [f"{offset} {length} {path}" for offset, length in head + config]
        for disk in disks:
            disk.close()
    out = folder / "floor-reads.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> int:
    ldmtool = require("ldmtool")
    rows = []
    with scratch("ldm") as folder:
        empty = folder / "not-ldm.img"
        with bootmirror.Disk.create(empty, 1 << 20):
            pass
        startup = [t for t in rounds({"startup": lambda: run([ldmtool, "scan", str(empty)])}, STARTUP_RUNS)["startup"]]
        start = statistics.median(startup)

        floors = build_tool("floors.cpp", folder)
        floor_times: list = []

        def floor(reads: Path):
            def work() -> None:
                out = subprocess.run([str(floors), "reads", str(reads), "1"], check=True, capture_output=True, text=True)
                floor_times.append(float(out.stdout))
            return work

        def add(case: str, times) -> None:
            times["floor"] = floor_times[:]
            floor_times.clear()
            rows.append(row(case, times, "ldmtool scan (process)", FLOOR))
            times["peer"] = [max(t - start, 1e-9) for t in times["peer"]]
            rows.append(row(f"{case}, ldmtool net of start-up", times, "ldmtool scan, work", FLOOR))

        (folder / "made").mkdir()
        paths = build(folder / "made")
        names = [str(p) for p in paths]
        times = rounds({"bootmirror": decode_groups([names]), "peer": lambda: run([ldmtool, "scan", *names]),
                        "floor": floor(floor_reads([names], folder / "made"))}, ROUNDS * 4)
        add(f"open + decode {DISKS} disks, {VOLUMES} volumes (made by bootmirror)", times)

        images = windows_images(folder / "windows")
        sets = [[str(p) for p in images if p.name.startswith(prefix)] for prefix in ("ldm-2003r2-", "ldm-2008r2-")]
        all_images = [str(p) for p in images]
        times = rounds({"bootmirror": decode_groups(sets), "peer": lambda: run([ldmtool, "scan", *all_images]),
                        "floor": floor(floor_reads(sets, folder / "windows"))}, ROUNDS * 10)
        add(f"open + decode the {len(images)} Windows images (2 groups)", times)
    print_table(f"LDM ({ROUNDS * 4} and {ROUNDS * 10} rounds; ldmtool start-up {min(startup) * 1e3:.2f} / {start * 1e3:.2f} ms "
                f"min / median over {STARTUP_RUNS} runs on a 1 MiB image without LDM)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

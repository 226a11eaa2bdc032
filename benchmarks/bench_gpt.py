#!/usr/bin/env python3
"""GPT: create 128 partitions, rewrite the table 1,000 times, five separate commands, and the
editing work alone, against sgdisk doing the same work in the same run.

sgdisk sleeps one second and calls sync() before its fsync on every run that writes (seen with
strace); here it runs with an LD_PRELOAD shim (benchmarks/nosleep.c, built by the benchmark) that
makes sleep() and sync() return at once, so its time is its work and its one durable write.

Every bootmirror table write is durable and crash-safe (backup copy, fsync, primary copy, fsync);
sgdisk edits in memory and writes once per run. The floor is benchmarks/floors.cpp `tablewrites`:
the same number of durable table writes (16 KiB + 512 B, fsync, twice) and nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROUNDS, build_tool, print_table, rounds, row, run, scratch  # noqa: E402

import bootmirror  # noqa: E402
from bootmirror import Disk, gpt  # noqa: E402

PARTITIONS = 128
REWRITES = 1000
COMMANDS = 5


def sgdisk_path() -> str:
    path = shutil.which("sgdisk") or shutil.which("sgdisk", path="/usr/sbin:/sbin")
    if path is None:
        sys.exit("bench_gpt: sgdisk is required (Debian package gdisk)")
    return path


def main() -> int:
    sgdisk = sgdisk_path()
    rows = []
    with scratch("gpt") as folder:
        floors = str(build_tool("floors.cpp", folder))
        shim = build_tool("nosleep.c", folder, shared=True)
        env = dict(os.environ, LD_PRELOAD=str(shim))
        ours_path, peer_path, floor_path = folder / "ours.img", folder / "peer.img", folder / "floor.img"
        for p in (ours_path, peer_path, floor_path):
            with Disk.create(p, "1 GiB"):
                pass

        def sg(*args: str) -> None:
            run([sgdisk, *args, str(peer_path)], env=env)

        def tablewrites(n: int):
            return lambda: run([floors, "tablewrites", str(floor_path), str(n)])

        disk = Disk.open(ours_path, writable=True)

        def fresh_ours() -> None:
            disk.clean()
            disk.convert_gpt()
            disk.delete_partition(1, override=True)

        # 1. 128 partitions: 128 crash-safe table writes / one sgdisk run.
        creates = [a for n in range(1, PARTITIONS + 1) for a in ("-n", f"{n}:0:+1M")]
        times = rounds({"bootmirror": lambda: [disk.create_partition("primary", "1 MiB") for _ in range(PARTITIONS)],
                        "peer": lambda: sg("-o", *creates), "floor": tablewrites(PARTITIONS)},
                       ROUNDS, {"bootmirror": fresh_ours})
        assert len(disk.partitions) == PARTITIONS
        rows.append(row(f"create {PARTITIONS} partitions (ours: {PARTITIONS} durable writes; sgdisk: one)", times,
                        "sgdisk, no sleep", f"{PARTITIONS} table writes"))

        # 2. The full table rewritten 1,000 times (a rename each) / one sgdisk run with 1,000 renames.
        table = gpt.read(disk)

        def rewrite_ours() -> None:
            for i in range(REWRITES):
                entry = table.entries[i % PARTITIONS]
                entry.name = f"rewrite {i}"
                table.set_entry(i % PARTITIONS, entry)
                gpt.write(disk, table)

        renames = [a for i in range(REWRITES) for a in ("-c", f"{i % PARTITIONS + 1}:rewrite {i}")]
        times = rounds({"bootmirror": rewrite_ours, "peer": lambda: sg(*renames), "floor": tablewrites(REWRITES)}, ROUNDS)
        rows.append(row(f"rewrite the table {REWRITES:,} times (sgdisk: one run, {REWRITES:,} renames)", times,
                        "sgdisk, no sleep", f"{REWRITES:,} table writes"))

        # 3. One command at a time: read, rename, write, as separate operations on both sides.
        times = rounds({"bootmirror": lambda: [_rename(disk, i) for i in range(COMMANDS)],
                        "peer": lambda: [sg("-c", f"{i % PARTITIONS + 1}:cmd {i}") for i in range(COMMANDS)],
                        "floor": tablewrites(COMMANDS)}, ROUNDS)
        rows.append(row(f"{COMMANDS} separate rename commands", times, "5 sgdisk runs, no sleep", f"{COMMANDS} table writes"))

        # 4. The editing work alone: 128 partitions and 1,000 renames in memory, then one write /
        # sgdisk -P (pretend: it edits and writes nothing, so this row favours sgdisk).
        def build_ours() -> None:
            built = gpt.Table.create(disk.sector_count, 512)
            for n in range(PARTITIONS):
                entry = gpt.RawPartition()
                entry.type_guid = gpt.BASIC_DATA
                entry.unique_guid = bootmirror.new_guid()
                entry.first_lba = 2048 * (n + 1)
                entry.last_lba = 2048 * (n + 2) - 1
                built.set_entry(n, entry)
            entries = built.entries
            for i in range(REWRITES):
                entries[i % PARTITIONS].name = f"rewrite {i}"
            for n, entry in enumerate(entries[:PARTITIONS]):
                built.set_entry(n, entry)
            gpt.write(disk, built)

        times = rounds({"bootmirror": build_ours, "peer": lambda: sg("-P", "-o", *creates, *renames),
                        "floor": tablewrites(1)}, ROUNDS)
        rows.append(row(f"edit only: {PARTITIONS} creates + {REWRITES:,} renames, one write (sgdisk -P writes none)", times,
                        "sgdisk -P", "1 table write"))

        assert gpt.verify(disk).clean
        subprocess.run([sgdisk, "-v", str(ours_path)], check=True, capture_output=True)
        disk.close()
    print_table(f"GPT ({ROUNDS} rounds; 1 GiB sparse images, 512-byte sectors; sgdisk with sleep() and sync() "
                "made no-ops by an LD_PRELOAD shim, its fsync kept)", rows)
    return 0


def _rename(disk: Disk, i: int) -> None:
    table = gpt.read(disk)
    entry = table.entries[i % PARTITIONS]
    entry.name = f"cmd {i}"
    table.set_entry(i % PARTITIONS, entry)
    gpt.write(disk, table)


if __name__ == "__main__":
    sys.exit(main())

"""GPT benchmark: create 128 partitions and rewrite the table 1,000 times, against sgdisk doing
the same work, both timed in the same run. Standalone: ``python benchmarks/bench_gpt.py``.

Every bootmirror write is durable and crash-safe (backup copy, flush, primary copy, flush); sgdisk
edits in memory and writes once per run, and each of its writing runs pauses one second before its
fsync (seen with strace: clock_nanosleep of 1 s), so its runs cost about a second whatever they do.
The rows: our cost per durable table write against sgdisk's cost per run; one command at a time on
both sides; and the editing work alone, with sgdisk in --pretend mode (no write, no pause).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bootmirror
from bootmirror import Disk, gpt

PARTITIONS = 128
REWRITES = 1000
COMMANDS = 5  # sgdisk pauses about a second after each write (its disk sync), so few


def sgdisk() -> str:
    path = shutil.which("sgdisk") or shutil.which("sgdisk", path="/usr/sbin:/sbin")
    if path is None:
        sys.exit("bench_gpt: sgdisk is required (Debian package gdisk)")
    return path


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run_sgdisk(*args: str) -> None:
    subprocess.run([sgdisk(), *args], check=True, capture_output=True)


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-gpt-") as folder:
        ours_path, peer_path = Path(folder, "ours.img"), Path(folder, "peer.img")
        with Disk.create(ours_path, "1 GiB"):
            pass
        with Disk.create(peer_path, "1 GiB"):
            pass

        # 1. Create 128 partitions of 1 MiB: 128 crash-safe table writes / one sgdisk run.
        disk = Disk.open(ours_path, writable=True)
        disk.convert_gpt()
        disk.delete_partition(1, override=True)
        ours = timed(lambda: [disk.create_partition("primary", "1 MiB") for _ in range(PARTITIONS)])
        creates = [a for n in range(1, PARTITIONS + 1) for a in ("-n", f"{n}:0:+1M")]
        peer = timed(lambda: run_sgdisk("-o", *creates, str(peer_path)))
        assert len(disk.partitions) == PARTITIONS
        rows.append((f"create {PARTITIONS} partitions", ours, peer))

        # 2. Rewrite the full table 1,000 times (a rename each time) / one sgdisk run with 1,000 renames.
        table = gpt.read(disk)

        def rewrite_ours() -> None:
            for i in range(REWRITES):
                entry = table.entries[i % PARTITIONS]
                entry.name = f"rewrite {i}"
                table.set_entry(i % PARTITIONS, entry)
                gpt.write(disk, table)

        ours = timed(rewrite_ours)
        renames = [a for i in range(REWRITES) for a in ("-c", f"{i % PARTITIONS + 1}:rewrite {i}")]
        peer = timed(lambda: run_sgdisk(*renames, str(peer_path)))
        rows.append((f"rewrite the table {REWRITES:,} times", ours, peer))

        # 3. One command at a time: read, rename, write, as separate operations on both sides.
        ours = timed(lambda: [_rename(disk, i) for i in range(COMMANDS)])
        peer = timed(lambda: [run_sgdisk("-c", f"{i % PARTITIONS + 1}:cmd {i}", str(peer_path)) for i in range(COMMANDS)])
        rows.append((f"{COMMANDS} separate rename commands", ours, peer))

        # 4. The editing work alone: build 128 partitions and apply 1,000 renames in memory, then
        # write once / sgdisk --pretend with the same options (it edits, then writes nothing, so
        # its pause and its I/O are left out: this row favours sgdisk).
        def build_ours() -> None:
            built = gpt.Table.create(disk.sector_count, 512)
            first = built.first_usable_lba
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
            assert first <= 2048
            gpt.write(disk, built)

        ours = timed(build_ours)
        peer = timed(lambda: run_sgdisk("-P", "-o", *creates, *renames, str(peer_path)))
        rows.append((f"edit only: {PARTITIONS} creates + {REWRITES:,} renames, one write (sgdisk -P writes none)", ours, peer))

        assert gpt.verify(disk).clean
        subprocess.run([sgdisk(), "-v", str(ours_path)], check=True, capture_output=True)
        disk.close()

    print(f"GPT (bootmirror {bootmirror.__version__} vs sgdisk), 1 GiB sparse image, 512-byte sectors\n")
    print("| case | bootmirror | sgdisk | ratio (>1: bootmirror faster) |")
    print("| --- | ---: | ---: | ---: |")
    for case, ours, peer in rows:
        print(f"| {case} | {ours * 1000:,.1f} ms | {peer * 1000:,.1f} ms | {peer / ours:,.1f}x |")
    return 0


def _rename(disk: Disk, i: int) -> None:
    table = gpt.read(disk)
    entry = table.entries[i % PARTITIONS]
    entry.name = f"cmd {i}"
    table.set_entry(i % PARTITIONS, entry)
    gpt.write(disk, table)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sequential write then read of 1 GiB through ImageFile, against dd bs=4M on the same file system.

Both sides write the same bytes in 4 MiB requests and fsync at the end; before each read both
files' cached pages are dropped, so the reads come from the disk for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, drop_cache, require, run, scratch, table  # noqa: E402

import bootmirror  # noqa: E402

CHUNK = 4 << 20
TOTAL = 1 << 30
REPEATS = 3


def main() -> int:
    dd = require("dd")
    block = bytes(CHUNK)
    with scratch("io") as folder:
        ours = folder / "ours.img"
        theirs = folder / "dd.img"

        def fresh_ours() -> None:
            ours.unlink(missing_ok=True)

        def write_ours() -> None:
            with bootmirror.Disk.create(ours, TOTAL) as disk:
                for offset in range(0, TOTAL, CHUNK):
                    disk.write(offset, block)
                disk.flush()

        def write_dd() -> None:
            run([dd, "if=/dev/zero", f"of={theirs}", "bs=4M", f"count={TOTAL // CHUNK}", "conv=fsync"])

        buffer = bytearray(CHUNK)

        def read_ours() -> None:
            with bootmirror.Disk.open(ours) as disk:
                for offset in range(0, TOTAL, CHUNK):
                    disk.readinto(offset, buffer)

        def read_dd() -> None:
            run([dd, f"if={theirs}", "of=/dev/null", "bs=4M"])

        w_ours = best_of(REPEATS, write_ours, fresh_ours)
        w_dd = best_of(REPEATS, write_dd, lambda: theirs.unlink(missing_ok=True))
        r_ours = best_of(REPEATS, read_ours, lambda: drop_cache(ours))
        r_dd = best_of(REPEATS, read_dd, lambda: drop_cache(theirs))

    mib = TOTAL / (1 << 20)
    rows = [
        ("write 1 GiB, 4 MiB requests, fsync", f"{mib / w_ours:,.0f} MiB/s", f"{mib / w_dd:,.0f} MiB/s",
         f"{w_dd / w_ours:.2f}x"),
        ("read 1 GiB, 4 MiB requests, cold cache", f"{mib / r_ours:,.0f} MiB/s", f"{mib / r_dd:,.0f} MiB/s",
         f"{r_dd / r_ours:.2f}x"),
    ]
    print(table(("case", "bootmirror ImageFile", "dd bs=4M", "ratio (>1: bootmirror faster)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

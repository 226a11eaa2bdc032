"""The main job behind ``make demo``: for now, create a sparse disk image and show its size.

Later issues grow this into the whole KB 814070 runbook.
"""

from __future__ import annotations

import os
import sys

from . import Disk, __version__, describe_size


def main(folder: str = "demo-out") -> int:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "disk0.img")
    if os.path.exists(path):
        os.remove(path)
    with Disk.create(path, "10 GiB") as disk:
        disk.write(0, b"bootmirror demo".ljust(512, b"\0"))
        print(f"bootmirror {__version__}")
        print(f"created {path}")
        print(f"  size:       {disk.size:,} bytes ({describe_size(disk.size)})")
        print(f"  sectors:    {disk.sector_count:,} of {disk.sector_size} bytes")
        print(f"  allocated:  {disk.allocated_bytes:,} bytes (sparse)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

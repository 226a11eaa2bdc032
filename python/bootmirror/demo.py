"""The main job behind ``make demo``: rehearse Microsoft KB 814070 on image files.

It builds the article's machine (disk 0: the GPT system disk with its EFI system partition;
disk 1: a raw shadow disk) as sparse images in a machine folder, then runs the article's steps
with the same commands, printing the same answers. Each later stage of the runbook joins here as
bootmirror learns it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from . import __version__, gpt, kb814070


def main(folder: str = "demo-out") -> int:
    lab = Path(folder) / "kb814070"
    if lab.exists():
        shutil.rmtree(lab)
    lab.parent.mkdir(parents=True, exist_ok=True)
    print(f"bootmirror {__version__}: rehearsing KB 814070 in {lab}/")
    machine = kb814070.rehearsal_machine(lab)
    for number, disk in machine.disks.items():
        print(f"  disk {number}: {disk.path}, {disk.size:,} bytes, {disk.allocated_bytes:,} bytes allocated")

    print("\n== Prepare the Shadow Drive for Mirroring, steps 2 to 4 ==\n")
    print(machine.diskpart(kb814070.PREPARE_SHADOW_PARTITIONS, check=True))

    for number, disk in machine.disks.items():
        health = gpt.verify(disk)
        print(f"disk {number}: GPT {'clean' if health.clean else 'damaged: ' + '; '.join(health.problems)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

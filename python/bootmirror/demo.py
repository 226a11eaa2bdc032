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

from . import __version__, fat, gpt, kb814070


def main(folder: str = "demo-out") -> int:
    """Rehearse KB 814070 in `folder` and print each step's answer; returns the exit code."""
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

    print("\n== Prepare the Shadow Drive for Mirroring, steps 5 to 9 ==\n")
    print(machine.diskpart(kb814070.ASSIGN_SHADOW_ESP, check=True))
    drive, switches = kb814070.FORMAT_SHADOW_ESP
    print(f"C:\\> format {drive} {switches}\n")
    print(machine.format(drive, switches))
    print(machine.diskpart(kb814070.ASSIGN_PRIMARY_ESP, check=True))
    source, target, switches = kb814070.COPY_ESP
    print(f"C:\\> xcopy {source} {target} {switches}")
    print(machine.xcopy(source, target, switches))
    shadow_esp = machine.volume("s:")
    report = shadow_esp.check()
    print(f"shadow ESP: {shadow_esp!r}, check {'clean' if report.clean else report.problems}\n")
    del shadow_esp
    print(machine.diskpart(kb814070.REMOVE_ESP_LETTERS, check=True))

    print("\n== Convert the Primary and Shadow Drives to Dynamic ==\n")
    print(machine.diskpart(kb814070.CONVERT_TO_DYNAMIC, check=True))
    print("(restarting the computer to complete the conversion of disk 0)\n")
    machine.reboot()

    print("== Establish a Mirror from the Boot Drive to the Shadow Drive ==\n")
    print(machine.diskpart(kb814070.MIRROR_BOOT_VOLUME, check=True))
    # Step 2: "Wait for the volume synchronization to complete" (the copy runs in the background).
    print(machine.diskpart("list volume", check=True))
    machine.wait()
    print(machine.diskpart("list volume\nlist disk", check=True))
    for number, disk in machine.disks.items():
        health = gpt.verify(disk)
        print(f"disk {number}: GPT {'clean' if health.clean else 'damaged: ' + '; '.join(health.problems)}, "
              f"{disk.allocated_bytes:,} bytes allocated")
    group = machine.disk_group
    print(f"disk group {group.name} {{{group.guid}}}: " + ", ".join(f"{v.name} {v.layout}" for v in group.volumes))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

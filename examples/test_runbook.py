"""KB 814070 on the plugin's kb814070_machine: the shadow drive, the mirror, the boot entries."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import kb814070
from bootmirror.pytest_plugin import assert_transcript


def test_prepare_the_shadow_drive(kb814070_machine: bootmirror.Machine) -> None:
    m = kb814070_machine
    transcript = m.diskpart("Select disk 1\nConvert GPT\nList partition", check=True)
    assert_transcript(transcript, """
DISKPART> Select disk 1

Disk 1 is now the selected disk.

DISKPART> Convert GPT

Diskpart successfully converted the selected disk to GPT format.

DISKPART> List partition

  Partition ###  Type              Size     Offset
  -------------  ----------------  -------  -------
  Partition 1    Reserved            32 MB    17 KB
""")


def test_mirror_the_boot_volume_and_boot_the_shadow(kb814070_machine: bootmirror.Machine) -> None:
    m = kb814070_machine
    m.diskpart(kb814070.PREPARE_SHADOW_PARTITIONS + kb814070.ASSIGN_SHADOW_ESP + kb814070.ASSIGN_PRIMARY_ESP,
               check=True)
    m.format(*kb814070.FORMAT_SHADOW_ESP)
    assert m.xcopy(*kb814070.COPY_ESP).endswith("7 File(s) copied\n")
    m.diskpart(kb814070.REMOVE_ESP_LETTERS + kb814070.CONVERT_TO_DYNAMIC, check=True)
    m.reboot()
    m.diskpart(kb814070.MIRROR_BOOT_VOLUME, check=True)
    assert m.wait(timeout=120)
    volume = m.dynamic_volume("c")
    assert volume.status == "Healthy" and volume.verify().identical
    assert m.nvram.stale() == []
    mirror_entry = "Boot Mirror C: - secondary plex"
    assert mirror_entry in [e.description for e in m.nvram.entries()]
    m.fail_disk(0)
    boot = m.boot(mirror_entry)  # its loader is on disk 0's ESP, which is gone
    assert "Load of Boot Mirror C: - secondary plex failed:  Not Found" in boot.console


@pytest.mark.kb814070(scale=0.9)
def test_a_smaller_machine(kb814070_machine: bootmirror.Machine) -> None:
    disk = kb814070_machine.disk(1)
    assert disk.size < 10 << 30 and disk.allocated_bytes == 0

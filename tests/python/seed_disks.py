"""Disks shaped like the KB 814070 machine's, for scenario tests."""

from __future__ import annotations

from bootmirror import Disk, gpt, new_guid

MiB = 1 << 20


def _entry(type_guid: str, name: str, first_lba: int, sectors: int) -> gpt.RawPartition:
    p = gpt.RawPartition()
    p.type_guid = type_guid
    p.unique_guid = new_guid()
    p.name = name
    p.first_lba = first_lba
    p.last_lba = first_lba + sectors - 1
    return p


def build_reinstalled_disk0(disk: Disk) -> None:
    """Disk 0 after the seed's reinstallation ("Re-Establish the Primary Boot Drive Mirror", step
    4): EFI from sector 63 up to 102 MiB, a 31 MiB MSR, then the new 2996 MB Windows partition."""
    table = gpt.Table.create(disk.sector_count, disk.sector_size)
    efi = _entry(gpt.EFI_SYSTEM, "EFI system partition", 63, 102 * MiB // 512 - 63)
    msr = _entry(gpt.MICROSOFT_RESERVED, "Microsoft reserved partition", 102 * MiB // 512, 31 * MiB // 512)
    boot = _entry(gpt.BASIC_DATA, "Basic data partition", 133 * MiB // 512, 2996 * MiB // 512)
    for slot, entry in enumerate((efi, msr, boot)):
        table.set_entry(slot, entry)
    gpt.write(disk, table)

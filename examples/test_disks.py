"""Disks from the plugin's disk_factory and faulty_disk: partition tables, repair, I/O errors."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import gpt
from bootmirror.pytest_plugin import DiskFactory


def test_a_damaged_gpt_copy_is_repaired_from_the_other(disk_factory: DiskFactory) -> None:
    disk = disk_factory("256 MiB", layout="esp")
    before = [p.unique_guid for p in disk.partitions]
    disk.write(disk.sector_size, bytes(disk.sector_size))  # the primary header
    health = gpt.verify(disk)
    assert not health.clean and not health.primary.valid and health.backup.valid
    assert gpt.repair(disk)
    assert gpt.verify(disk).clean
    assert [p.unique_guid for p in disk.partitions] == before


@pytest.mark.parametrize("sector_size", [512, 4096])
def test_windows_partitioning(disk_factory: DiskFactory, sector_size: int) -> None:
    disk = disk_factory("1 GiB", sector_size=sector_size, layout="gpt")
    disk.delete_partition(1, override=True)
    esp = disk.create_partition("efi", "204 MiB")
    msr = disk.create_partition("msr", "32 MiB")
    assert (esp.kind, msr.kind) == ("efi", "msr")
    assert msr.offset == esp.offset + esp.size


@pytest.mark.parametrize("faulty_disk", [{"size": "256 MiB", "layout": "esp"}], indirect=True)
def test_an_unreadable_esp_is_an_os_error(faulty_disk: bootmirror.FaultyDisk) -> None:
    esp = faulty_disk.partitions[0]
    faulty_disk.fail_range(esp.offset, esp.size, access="read")
    with pytest.raises(OSError):
        bootmirror.fat.open(faulty_disk.slice(esp.offset, esp.size))

"""GPT against sgdisk: what we write sgdisk reads clean, what sgdisk writes we read identically,
and each of the four structures, damaged, is detected and repaired to sgdisk's satisfaction."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import Disk, gpt
from gpt_helpers import loop_device, same_as_sgdisk, sgdisk_header, sgdisk_info, sgdisk_verify_clean
from conftest import run_tool

MiB = 1 << 20


def _check_against_sgdisk(device_path: str, disk: Disk) -> None:
    sgdisk_verify_clean(device_path)
    header = sgdisk_header(device_path)
    table = gpt.read(disk)
    assert header["disk_guid"] == table.disk_guid
    assert header["entries"] == table.entry_count
    assert header["first_usable"] == table.first_usable_lba
    assert header["last_usable"] == table.last_usable_lba
    assert header["sector_size"] == disk.sector_size
    # sgdisk numbers partitions by slot; Windows (and we) write them compacted in offset order,
    # so the numbers agree for every table we write.
    for slot, raw in enumerate(table.entries):
        if raw.used:
            same_as_sgdisk(raw, sgdisk_info(device_path, slot + 1))


def test_seed_shadow_layout_passes_sgdisk(tmp_path):
    path = tmp_path / "shadow.img"
    with Disk.create(path, "10 GiB") as disk:
        disk.convert_gpt()
        disk.delete_partition(1, override=True)
        efi = disk.create_partition("efi", "204 MiB")
        msr = disk.create_partition("msr", "32 MiB")
        assert (efi.offset, efi.size) == (17408, 213909504)
        assert (msr.offset, msr.size) == (213926912, 32 * MiB)
    with Disk.open(path) as disk:
        _check_against_sgdisk(str(path), disk)
        info = sgdisk_info(str(path), 1)
        assert info["type"] == gpt.EFI_SYSTEM and info["name"] == "EFI system partition"
        assert sgdisk_info(str(path), 2)["name"] == "Microsoft reserved partition"


@pytest.mark.parametrize("sector_size", [512, 4096])
def test_our_layouts_pass_sgdisk(tmp_path, sector_size):
    path = tmp_path / "ours.img"
    with Disk.create(path, "20 GiB", sector_size=sector_size) as disk:
        disk.convert_gpt()  # 128 MiB MSR: the disk is not under 16 GiB
        assert disk.partitions[0].size == 128 * MiB
        disk.create_partition("efi", "100 MiB")
        disk.create_partition("primary", "1 GiB", align="1 MiB")
        disk.create_partition("primary", "300 MiB", offset="5 GiB")
        disk.create_partition("primary")  # the largest free extent
        disk.delete_partition(3)
        assert [p.kind for p in disk.partitions] == ["msr", "efi", "basic", "basic"]
    if sector_size == 512:
        with Disk.open(path) as disk:
            _check_against_sgdisk(str(path), disk)
    else:
        with loop_device(path, 4096) as device, Disk.open(path, sector_size=4096) as disk:
            _check_against_sgdisk(device, disk)


def _sgdisk_layouts():
    return {
        "windows-like": ["-n", "1:2048:+100M", "-t", "1:ef00", "-c", "1:EFI system partition",
                         "-n", "2:0:+16M", "-t", "2:0c01", "-n", "3:0:+200M", "-t", "3:0700", "-c", "3:Basic data partition"],
        "linux-gaps-attributes": ["-n", "3:0:+10M", "-t", "3:8300", "-c", "3:root \u00e9t\u00e9",
                                  "-n", "7:+5M:+20M", "-t", "7:8200", "-A", "7:set:0", "-A", "7:set:62",
                                  "-n", "1:0:+1M", "-t", "1:ef02"],
        "odd-entry-count": ["-S", "12", "-n", "1:0:+30M", "-t", "1:4200", "-n", "2:0:+30M", "-t", "2:4201"],
        "large-entry-count": ["-S", "200", "-n", "1:0:+8M", "-n", "2:0:0", "-t", "2:a19d880f-05fc-4d3b-a006-743f0f84911e"],
    }


@pytest.mark.parametrize("sector_size", [512, 4096])
@pytest.mark.parametrize("layout", sorted(_sgdisk_layouts()))
def test_sgdisk_images_read_back_identically(tmp_path, layout, sector_size):
    path = tmp_path / "sgdisk.img"
    with Disk.create(path, "512 MiB", sector_size=sector_size):
        pass
    args = _sgdisk_layouts()[layout]

    def check(device: str) -> None:
        run_tool(["sgdisk", *args, device])
        header = sgdisk_header(device)
        with Disk.open(path, sector_size=sector_size) as disk:
            assert gpt.verify(disk).clean
            table = gpt.read(disk)
            assert table.disk_guid == header["disk_guid"]
            assert table.entry_count == header["entries"]
            assert (table.first_usable_lba, table.last_usable_lba) == (header["first_usable"], header["last_usable"])
            for slot, raw in enumerate(table.entries):
                if raw.used:
                    same_as_sgdisk(raw, sgdisk_info(device, slot + 1))
            unknown = [raw for raw in table.entries if raw.used and raw.kind == "other"]
        # Unknown types pass through a change of ours untouched (Windows compacts the slots, so
        # compare by unique GUID).
        if unknown:
            with Disk.open(path, writable=True, sector_size=sector_size) as disk:
                disk.create_partition("primary", "64 KiB")  # sgdisk leaves the first MiB free
                after = {p.unique_guid: p for p in gpt.read(disk).entries if p.used}
            for raw in unknown:
                kept = after[raw.unique_guid]
                assert (kept.type_guid, kept.first_lba, kept.last_lba, kept.attributes, kept.name) == (
                    raw.type_guid, raw.first_lba, raw.last_lba, raw.attributes, raw.name)
            sgdisk_verify_clean(device)

    if sector_size == 512:
        check(str(path))
    else:
        with loop_device(path, 4096) as device:
            check(device)


STRUCTURES = ["primary header", "primary array", "backup header", "backup array"]


def _structure_offset(disk: Disk, which: str) -> int:
    ss = disk.sector_size
    table = gpt.read(disk)
    return {
        "primary header": 1 * ss,
        "primary array": table.primary_entries_lba * ss,
        "backup header": table.backup_header_lba * ss,
        "backup array": table.backup_entries_lba * ss,
    }[which]


@pytest.mark.parametrize("sector_size", [512, 4096])
@pytest.mark.parametrize("which", STRUCTURES)
def test_each_damaged_structure_is_repaired(tmp_path, which, sector_size):
    path = tmp_path / "damaged.img"
    edge = 64 * 1024
    with Disk.create(path, "1 GiB", sector_size=sector_size) as disk:
        disk.convert_gpt()
        disk.create_partition("efi", "100 MiB")
        good = disk.read(0, edge) + disk.read(disk.size - edge, edge)
        where = _structure_offset(disk, which)
        disk.write(where, b"\xde\xad" * 256)
        health = gpt.verify(disk)
        assert not health.clean
        copy = health.primary if which.startswith("primary") else health.backup
        assert not copy.valid
        assert which.split()[1] in " ".join(health.problems)
        assert [p.kind for p in disk.partitions] == ["msr", "efi"]  # read from the good copy
        actions = gpt.repair(disk)
        assert actions and which.split()[0] in actions[0]
        assert gpt.verify(disk).clean
        assert disk.read(0, edge) + disk.read(disk.size - edge, edge) == good
    if sector_size == 512:
        sgdisk_verify_clean(str(path))
    else:
        with loop_device(path, 4096) as device:
            sgdisk_verify_clean(device)


def test_both_copies_damaged_is_a_format_error(tmp_path):
    path = tmp_path / "ruined.img"
    with Disk.create(path, "256 MiB") as disk:
        disk.convert_gpt()
        disk.write(_structure_offset(disk, "primary array"), b"\x01" * 512)
        disk.write(_structure_offset(disk, "backup header"), b"\x01" * 512)
        before = path.read_bytes()
        with pytest.raises(bootmirror.FormatError, match="primary.*backup"):
            gpt.repair(disk)
        with pytest.raises(bootmirror.FormatError):
            disk.create_partition("efi", "10 MiB")
    assert path.read_bytes() == before


def test_grown_disk_is_fixed_like_sgdisk_e(tmp_path):
    path = tmp_path / "grown.img"
    with Disk.create(path, "256 MiB") as disk:
        disk.convert_gpt()
    with open(path, "r+b") as f:
        f.truncate(512 * 1024 * 1024)
    with Disk.open(path, writable=True) as disk:
        health = gpt.verify(disk)
        assert not health.backup_at_end and "grew" in " ".join(health.problems)
        gpt.repair(disk)
        assert gpt.verify(disk).clean
        assert gpt.read(disk).last_usable_lba == disk.sector_count - 34
    sgdisk_verify_clean(str(path))


@pytest.mark.parametrize("size", ["16 MiB", None])  # None: the partition fills the usable range
def test_a_disk_cut_short_is_damage_that_repair_mends_or_refuses(tmp_path, size):
    """An image cut short by 16 sectors: its backup is gone and the primary's AlternateLBA lies past
    the end. verify called that clean, and repair left the primary pointing past the end, where
    sgdisk -v found 2 problems. Now it is a problem, and repair lays the backup out at the new end
    (sgdisk -v agrees), or, when a partition reaches into that new backup, refuses with a
    FormatError and writes nothing."""
    path = tmp_path / "shrunk.img"
    with Disk.create(path, "256 MiB") as disk:
        disk.convert_gpt()
        disk.create_partition("primary", size)
    with open(path, "r+b") as f:
        f.truncate(256 * 1024 * 1024 - 16 * 512)
    with Disk.open(path, writable=True) as disk:
        health = gpt.verify(disk)
        assert not health.clean and "the disk shrank" in " ".join(health.problems)
        if size is None:
            before = disk.read(0, disk.size)
            with pytest.raises(bootmirror.FormatError, match="shrank below its partitions"):
                gpt.repair(disk)
            assert disk.read(0, disk.size) == before
            return
        gpt.repair(disk)
        assert gpt.verify(disk).clean
        assert gpt.read(disk).last_usable_lba == disk.sector_count - 34
    sgdisk_verify_clean(str(path))


def test_hybrid_mbr_is_kept(tmp_path):
    path = tmp_path / "hybrid.img"
    with Disk.create(path, "256 MiB"):
        pass
    run_tool(["sgdisk", "-n", "1:0:+10M", "-t", "1:0700", "-n", "2:0:+10M", "-h", "1", str(path)])
    mbr = path.read_bytes()[:512]
    with Disk.open(path, writable=True) as disk:
        assert gpt.verify(disk).clean
        disk.create_partition("primary", "1 MiB")
    assert path.read_bytes()[:512] == mbr
    sgdisk_verify_clean(str(path))

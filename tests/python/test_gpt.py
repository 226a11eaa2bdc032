"""The GPT engine through the Python API: partitions, kinds, reprs, bad input, crash safety."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import Disk, FaultyDisk, gpt

MiB = 1 << 20


def test_convert_gpt_makes_windows_msr():
    small = Disk.memory("128 MiB")
    small.convert_gpt()
    (msr,) = small.partitions
    assert (msr.number, msr.kind, msr.offset, msr.size) == (1, "msr", 17408, 32 * MiB)
    assert msr.name == "Microsoft reserved partition"
    assert msr.type_guid == gpt.MICROSOFT_RESERVED
    assert bootmirror._core.gpt.msr_size_for(16 << 30) == 128 * MiB
    assert bootmirror._core.gpt.msr_size_for((16 << 30) - 1) == 32 * MiB


def test_4k_disk_starts_at_lba_6():
    disk = Disk.memory("128 MiB", sector_size=4096)
    disk.convert_gpt()
    assert disk.partitions[0].first_lba == 6
    assert disk.partitions[0].offset == 24 * 1024


def test_create_numbers_by_offset_and_reprs():
    disk = Disk.memory("128 MiB")
    disk.convert_gpt()
    disk.create_partition("primary", "10 MiB", offset="64 MiB")
    efi = disk.create_partition("efi", "10 MiB")
    assert efi.number == 2 and efi.offset == 17408 + 32 * MiB
    assert [p.kind for p in disk.partitions] == ["msr", "efi", "basic"]
    assert "EFI system partition" in repr(efi)
    assert "<table>" in efi._repr_html_()
    # The list itself is a table in Jupyter (a row per partition), and still a plain list.
    parts = disk.partitions
    assert isinstance(parts, list) and parts == list(parts) and parts[1] == efi
    assert parts._repr_html_().count("<tr>") == 1 + 3 and "EFI system partition" in parts._repr_html_()
    assert gpt.partitions(Disk.memory("1 MiB")) == []
    assert repr(gpt.verify(disk)) == "<gpt.Health clean>"
    with pytest.raises(bootmirror.UsageError):
        disk.create_partition("primary", "1 GiB")
    with pytest.raises(bootmirror.UsageError):
        disk.create_partition("swap", "1 MiB")
    with pytest.raises(bootmirror.UsageError, match="protected"):
        disk.delete_partition(2)
    disk.delete_partition(3)
    disk.delete_partition(2, override=True)
    assert [p.kind for p in disk.partitions] == ["msr"]


def test_align_and_offset():
    disk = Disk.memory("128 MiB")
    disk.convert_gpt()
    p = disk.create_partition("primary", "1 MiB", align="1 MiB")
    assert p.offset == 33 * MiB
    q = disk.create_partition("primary", "1 MiB", offset=100 * 1024 * 1024 + 1)
    assert q.offset == 100 * MiB + 512  # rounded up to a whole sector


def test_convert_gpt_needs_128_mib_and_an_empty_disk():
    with pytest.raises(bootmirror.UsageError, match="128 MiB"):
        Disk.memory("127 MiB").convert_gpt()
    disk = Disk.memory("128 MiB")
    disk.convert_gpt()
    with pytest.raises(bootmirror.UsageError, match="not an empty basic disk"):
        disk.convert_gpt()


def test_raw_disk_has_no_partitions_and_not_gpt():
    disk = Disk.memory("8 MiB")
    assert disk.partitions == []
    assert gpt.style(disk) == "raw"
    with pytest.raises(bootmirror.FormatError, match="no GPT"):
        gpt.read(disk)
    with pytest.raises(bootmirror.UsageError):
        disk.create_partition("efi", "1 MiB")


@pytest.mark.parametrize("field,value", [(12, 8), (80, 0xFFFFFFFF), (84, 1 << 31), (72, 1 << 40)])
def test_bad_headers_raise_and_write_nothing(tmp_path, field, value):
    import struct
    import zlib

    path = tmp_path / "bad.img"
    with Disk.create(path, "16 MiB") as disk:
        gpt.write(disk, gpt.Table.create(disk.sector_count, 512))
        disk.create_partition("primary", "1 MiB")
        for lba in (1, disk.sector_count - 1):
            block = bytearray(disk.read(lba * 512, 512))
            width = 8 if field in (72,) else 4
            block[field:field + width] = value.to_bytes(width, "little")
            block[16:20] = b"\0\0\0\0"
            block[16:20] = struct.pack("<I", zlib.crc32(bytes(block[:92])))
            disk.write(lba * 512, bytes(block))
    before = path.read_bytes()
    with Disk.open(path, writable=True) as disk:
        with pytest.raises(bootmirror.FormatError) as info:
            gpt.read(disk)
        assert info.value.offset is not None
        with pytest.raises(bootmirror.FormatError):
            gpt.repair(disk)
        with pytest.raises(bootmirror.FormatError):
            disk.delete_partition(1, override=True)
    assert path.read_bytes() == before


def test_power_cut_at_every_write_keeps_a_valid_copy():
    probe = FaultyDisk(_prepared())
    probe.create_partition("efi", "4 MiB")
    for cut in range(probe.writes_seen + 1):
        inner = _prepared()
        faulty = FaultyDisk(inner)
        faulty.cut_power_after(cut)
        faulty.create_partition("efi", "4 MiB")
        health = gpt.verify(inner)
        assert health.primary.valid or health.backup.valid
        assert len(inner.partitions) in (1, 2)
        gpt.repair(inner)
        assert gpt.verify(inner).clean


def _prepared() -> Disk:
    disk = Disk.memory("128 MiB")
    disk.convert_gpt()
    return disk


from hypothesis import HealthCheck, given, settings, strategies as st


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spots=st.lists(st.tuples(st.sampled_from(["primary", "backup"]), st.integers(0, 511 + 512 * 4), st.integers(0, 255)),
           min_size=1, max_size=12),
)
def test_random_damage_never_crashes_and_failures_write_nothing(spots):
    disk = Disk.memory("4 MiB")
    gpt.write(disk, gpt.Table.create(disk.sector_count, 512))  # an empty table (too small for convert gpt)
    disk.create_partition("efi", "1 MiB")
    last = disk.sector_count - 1
    for which, offset, value in spots:
        # Within the header block and the first sectors of its array.
        base = 512 if which == "primary" else (last * 512 if offset < 512 else (last - 32) * 512 - 512)
        disk.write(base + offset, bytes([value]))
    before = disk.read(0, disk.size)
    try:
        table = gpt.read(disk)
        assert table.entry_count >= 1
        gpt.repair(disk)
        assert gpt.read(disk).entry_count >= 1
    except bootmirror.FormatError:
        assert disk.read(0, disk.size) == before
        with pytest.raises(bootmirror.FormatError):
            gpt.repair(disk)
        assert disk.read(0, disk.size) == before


@pytest.mark.parametrize("args", [dict(size=2**64 - 1), dict(size="1 MiB", align=2**64 - 1), dict(size="1 MiB", offset=2**64 - 1)])
def test_sizes_and_alignments_near_2_to_the_64_are_refused_not_wrapped(args):
    """Rounding up to whole sectors wrapped: an alignment of 2^64-1 became one sector and the
    partition was written; a size of 2^64-1 became 0 sectors and a misleading message."""
    disk = bootmirror.Disk.memory("128 MiB")
    disk.convert_gpt()
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError):
        disk.create_partition("primary", **args)
    assert disk.read(0, disk.size) == before


def test_a_table_made_for_another_size_is_not_written():
    """Table.create(8192) went onto a disk of 16384 sectors with its backup in the middle."""
    disk = bootmirror.Disk.memory(16384 * 512)
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError, match="made for a disk of 8192 sectors"):
        gpt.write(disk, gpt.Table.create(8192))
    assert disk.read(0, disk.size) == before
    gpt.write(disk, gpt.Table.create(16384))
    assert gpt.verify(disk).clean


def test_repair_rewrites_only_the_damaged_copy():
    disk = bootmirror.Disk.memory("128 MiB")
    disk.convert_gpt()
    backup_before = disk.read(disk.size - 33 * 512, 33 * 512)
    disk.write(512, b"\0" * 512)  # the primary header
    assert gpt.repair(disk) == ["rewrote the primary GPT header and entry array from the backup"]
    assert disk.read(disk.size - 33 * 512, 33 * 512) == backup_before
    assert gpt.verify(disk).clean


def _extents(table):
    return [(p.unique_guid, p.first_lba, p.last_lba) for p in table.in_offset_order()]


def _rewrite_header(disk: Disk, lba: int, offset: int, value: int) -> None:
    """Sets a 64-bit field of the header at `lba` and recomputes its CRC, so only the value is wrong."""
    import struct
    import zlib

    block = bytearray(disk.read(lba * 512, 512))
    block[offset:offset + 8] = struct.pack("<Q", value)
    block[16:20] = b"\0\0\0\0"
    block[16:20] = struct.pack("<I", zlib.crc32(bytes(block[:92])))
    disk.write(lba * 512, bytes(block))


@pytest.mark.parametrize("case", ["primary array over the backup's", "backup leaves no room for the primary array"])
def test_a_copy_repair_could_not_lay_the_other_out_from_is_damaged(case):
    """read() and verify() took these copies, and repair and create_partition then raised
    UsageError ("the layout does not fit"): damage on disk must be a FormatError."""
    disk = _prepared()
    last = disk.sector_count - 1
    if case == "primary array over the backup's":
        _rewrite_header(disk, 1, 72, last - 32)  # the backup's array (its CRC matches)
        disk.write(last * 512, bytes(512))
    else:
        _rewrite_header(disk, last, 40, 20)  # usable from LBA 20: no room for 32 sectors from LBA 2
        disk.write(512, bytes(512))
    expected = {"primary array over the backup's": "is not between its header and the usable range",
                "backup leaves no room for the primary array": "before the end of a primary array"}[case]
    assert expected in " ".join(gpt.verify(disk).problems)
    before = disk.read(0, disk.size)
    for change in (lambda: gpt.repair(disk), lambda: disk.create_partition("primary", "1 MiB")):
        with pytest.raises(bootmirror.FormatError):
            change()
    assert disk.read(0, disk.size) == before


@pytest.mark.parametrize("alternate", [3, 100, "last_usable", "no_room_for_array"])
def test_primary_alternate_lba_inside_the_table_is_a_damaged_copy(alternate):
    disk = _prepared()
    last_usable = gpt.read(disk).last_usable_lba
    value = {"last_usable": last_usable, "no_room_for_array": last_usable + 32}.get(alternate, alternate)
    expected = gpt.read(disk)
    _rewrite_header(disk, 1, 32, value)
    health = gpt.verify(disk)
    assert not health.primary.valid and "AlternateLBA" in health.primary.problem
    assert health.backup.valid
    table = gpt.read(disk)  # the backup copy serves
    assert (table.backup_entries_lba, table.backup_header_lba) == (expected.backup_entries_lba, expected.backup_header_lba)
    assert _extents(table) == _extents(expected)
    gpt.repair(disk)
    assert gpt.verify(disk).clean


def test_alternate_lba_bad_in_both_copies_is_a_format_error_and_writes_nothing():
    disk = _prepared()
    _rewrite_header(disk, 1, 32, 3)
    _rewrite_header(disk, disk.sector_count - 1, 32, 40)  # a backup pointing into the usable range
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.FormatError) as info:
        gpt.read(disk)
    assert "AlternateLBA" in str(info.value) and info.value.offset is not None
    with pytest.raises(bootmirror.FormatError):
        gpt.repair(disk)
    with pytest.raises(bootmirror.FormatError):
        disk.create_partition("primary", "1 MiB")
    assert disk.read(0, disk.size) == before

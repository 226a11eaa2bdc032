"""GPT writes and repairs under the write-back crash model: after any crash the table reads as the
old one or the new one (never a mix), sgdisk reads the same table, and repair leaves a table
sgdisk -v calls clean."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import Disk, gpt
from conftest import run_tool
from crash_helpers import completed, states, to_file

MiB = 1 << 20


def _table(disk: Disk):
    """What firmware, Windows and Linux see: the disk GUID and every partition's place, type,
    identity and name. All three look for the GPT only behind a protective MBR (EDK2's Gpt.c,
    the kernel's is_pmbr_valid), which is why a new table's protective MBR is written last: until
    it is down, the disk is still the raw disk it was. (sgdisk and our own reader are more lenient
    and find a table without it, which repair needs.)"""
    if not gpt.verify(disk).protective_mbr:
        return ("no table",)
    try:
        t = gpt.read(disk)
    except bootmirror.FormatError:
        return ("unreadable",)
    return (t.disk_guid, tuple((p.type_guid, p.unique_guid, p.first_lba, p.last_lba, p.name) for p in t.in_offset_order()))


def _sgdisk_partitions(path) -> list:
    out = run_tool(["sgdisk", "-p", str(path)], check=False)
    rows = []
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isdigit() and fields[1].isdigit() and fields[2].isdigit():
            rows.append((int(fields[1]), int(fields[2])))
    return rows


def _prepared() -> Disk:
    disk = Disk.memory("160 MiB")
    disk.convert_gpt()
    disk.delete_partition(1, override=True)
    disk.create_partition("efi", "16 MiB")
    disk.create_partition("msr", "32 MiB")
    return disk


def _damage_primary(d: Disk) -> None:
    d.write(512, b"\0" * 512)


def _damage_backup_array(d: Disk) -> None:
    d.write(d.size - 33 * 512, b"\xff" * 512)


def _cut_short() -> Disk:
    """_prepared's disk 16 sectors shorter, as an image cut short: its backup is gone and the
    primary's AlternateLBA lies past the end (repair lays the backup out at the new end)."""
    whole = _prepared()
    short = Disk.memory(whole.size - 16 * 512)
    short.write(0, whole.read(0, short.size))
    return short


OPERATIONS = {
    "convert gpt": (lambda: Disk.memory("160 MiB"), lambda d: d.convert_gpt()),
    "create partition": (_prepared, lambda d: d.create_partition("primary", "40 MiB")),
    "delete partition": (_prepared, lambda d: d.delete_partition(2, override=True)),
    "repair primary": (lambda: _with(_prepared(), _damage_primary), lambda d: gpt.repair(d)),
    "repair backup": (lambda: _with(_prepared(), _damage_backup_array), lambda d: gpt.repair(d)),
    "repair a disk cut short": (_cut_short, lambda d: gpt.repair(d)),
}


def _with(disk: Disk, change) -> Disk:
    change(disk)
    return disk


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_crash_leaves_the_old_table_or_the_new_one(name, tmp_path):
    make, operation = OPERATIONS[name]
    base = make()
    old = _table(base)
    new = _table(completed(lambda disks: operation(disks[0]), [base])[0])
    assert old != new or name.startswith("repair")
    count = 0
    for state, (disk,) in states(lambda disks: operation(disks[0]), [base], f"gpt: {name}"):
        seen = _table(disk)
        assert seen in (old, new), state.description
        if seen == ("no table",):
            continue
        image = to_file(disk, tmp_path / f"state{count}.img")
        count += 1
        # sgdisk reads the table we read (from whichever copy it trusts).
        assert _sgdisk_partitions(image) == [(p[2], p[3]) for p in seen[1]], state.description
        gpt.repair(disk)
        assert _table(disk) == seen, state.description
        assert gpt.verify(disk).clean, state.description
        repaired = to_file(disk, tmp_path / f"repaired{count}.img")
        verify = run_tool(["sgdisk", "-v", str(repaired)], check=False)
        assert "No problems found" in verify.stdout, (state.description, verify.stdout)
    assert count >= 1  # states a real reader sees a table in, sgdisk read as well

"""What bootmirror writes, ldmtool (libldm) reads back with the same names, GUIDs, sizes and
layouts: a dynamic GPT disk converted as in the seed (kb814070), two disks with a mirror, and a
group with a missing disk. The GPT disk still passes `sgdisk -v`, with the LDM metadata partition
carved from the MSR at the offsets of the seed's `bootcfg /list 1`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import bootmirror
from bootmirror import ldm
from conftest import run_tool
from ldm_helpers import assert_ldmtool_sees, scan, show, unpack_windows

MiB = 1 << 20


def seed_basic_gpt_disk(path: Path, size: int = 340 * MiB) -> bootmirror.Disk:
    """Disk 1 of kb814070 before "convert dynamic": ESP at 17,408 (213,909,504 bytes), a 32 MiB
    MSR right after it, then a basic data partition."""
    bootmirror.Disk.create(path, size).close()
    run_tool(["sgdisk", "-a", "1",
              "-n", "1:34:+417792", "-t", "1:ef00", "-c", "1:EFI system partition",
              "-n", "2:417826:+65536", "-t", "2:0c01", "-c", "2:Microsoft reserved partition",
              "-n", "3:483362:0", "-t", "3:0700", "-c", "3:Basic data partition", str(path)])
    return bootmirror.Disk.open(path, writable=True)


def gpt_partitions(path: Path):
    """(number, first LBA, last LBA, type GUID, name) as sgdisk reports them."""
    out = []
    for line in run_tool(["sgdisk", "-p", str(path)]).stdout.splitlines():
        m = re.match(r"\s+(\d+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            n = int(m.group(1))
            info = run_tool(["sgdisk", "-i", str(n), str(path)]).stdout
            guid = re.search(r"Partition GUID code: (\S+)", info).group(1).lower()
            name = re.search(r"Partition name: '(.*)'", info).group(1)
            out.append((n, int(m.group(2)), int(m.group(3)), guid, name))
    return out


def test_gpt_disk_converted_as_in_the_seed(tmp_path):
    path = tmp_path / "disk1.img"
    disk = seed_basic_gpt_disk(path)
    data_before = disk.read(247_481_344, MiB)
    group = ldm.convert_dynamic(disk, name="WIN-SEED-Dg0")
    disk.close()

    assert "No problems found" in run_tool(["sgdisk", "-v", str(path)]).stdout
    parts = gpt_partitions(path)
    # bootcfg /list 1, partitions 1 to 4: offsets and lengths in bytes, as Windows shows them.
    assert [(n, first * 512, (last - first + 1) * 512, t) for n, first, last, t, _ in parts] == [
        (1, 17_408, 213_909_504, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"),
        (2, 213_926_912, 1_048_576, "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3"),
        (3, 214_975_488, 32_505_856, "e3c9e316-0b5c-4db8-817d-f92df00215ae"),
        (4, 247_481_344, parts[3][2] * 512 - 247_481_344 + 512, "af9b60a0-1431-4f62-bc68-3311714a69ad"),
    ]
    assert [name for *_, name in parts] == [
        "EFI system partition", "LDM metadata partition", "Microsoft reserved partition", "LDM data partition"]

    disk = bootmirror.Disk.open(path)
    assert disk.read(247_481_344, MiB) == data_before  # the volume's bytes did not move
    again = ldm.read_group([disk])
    assert (again.name, again.guid) == (group.name, group.guid)
    (volume,) = again.volumes
    assert volume.layout == "simple" and volume.partitions[0].offset == 247_481_344
    # As Windows 2008 R2 writes GPT dynamic disks: the logical disk starts after the MSR.
    assert (again.disks[0].data_start, volume.partitions[0].start) == (483_362, 0)
    assert_ldmtool_sees(again, [path])


def test_two_disks_with_a_mirror_and_every_layout(tmp_path):
    paths = [tmp_path / f"d{i}.img" for i in range(2)]
    disks = [bootmirror.Disk.create(p, 64 * MiB) for p in paths]
    group = ldm.DiskGroup.create("WIN-MIRROR-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 40960), (b, 0, 40960)], drive_hint="E:")
    group.create_volume("Volume2", "simple", [(a, 40960, 8192)], drive_hint="F:")
    group.create_volume("Volume3", "spanned", [(a, 49152, 4096), (b, 40960, 2048)], drive_hint="G:")
    group.create_volume("Volume4", "striped", [(a, 53248, 4096), (b, 43008, 4096)], chunk_sectors=128)
    group.commit()
    for d in disks:
        d.close()
    back = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    assert [(v.name, v.layout, v.size) for v in back.volumes] == [
        ("Volume1", "mirrored", 40960), ("Volume2", "simple", 8192), ("Volume3", "spanned", 6144), ("Volume4", "striped", 8192)]
    assert show(paths, "volume", back.guid, "Volume4")["chunk-size"] == 128
    assert_ldmtool_sees(back, paths)


def test_gpt_mirror_of_the_boot_volume(tmp_path):
    """The seed's steps: both disks dynamic, then "add disk=1" on the boot volume."""
    p0, p1 = tmp_path / "disk0.img", tmp_path / "disk1.img"
    d0 = seed_basic_gpt_disk(p0)
    d1 = bootmirror.Disk.create(p1, 340 * MiB)
    d1.close()
    run_tool(["sgdisk", "-a", "1", "-n", "1:34:+417792", "-t", "1:ef00", "-c", "1:EFI system partition",
              "-n", "2:417826:+65536", "-t", "2:0c01", "-c", "2:Microsoft reserved partition", str(p1)])
    d1 = bootmirror.Disk.open(p1, writable=True)
    group = ldm.DiskGroup.create("WIN-SEED-Dg0")
    group.add_disk(d1)
    group.add_disk(d0)
    group.commit()
    boot = group.volumes[0]
    group.add_mirror(boot, group.disk("Disk1"))  # the first free run: right after the MSR
    group.commit()
    d0.close()
    d1.close()
    assert "No problems found" in run_tool(["sgdisk", "-v", str(p1)]).stdout
    parts = gpt_partitions(p1)
    # bootcfg /list 1: the mirror's LDM data partition right after the MSR, at 247,481,344.
    assert parts[3][1] * 512 == 247_481_344 and parts[3][3] == "af9b60a0-1431-4f62-bc68-3311714a69ad"
    back = ldm.read_group([bootmirror.Disk.open(p) for p in (p0, p1)])
    assert back.volumes[0].layout == "mirrored"
    assert_ldmtool_sees(back, [p0, p1])


def test_group_with_a_missing_disk(tmp_path):
    paths = [tmp_path / f"d{i}.img" for i in range(3)]
    disks = [bootmirror.Disk.create(p, 32 * MiB) for p in paths]
    group = ldm.DiskGroup.create("WIN-MISSING-Dg0")
    ds = [group.add_disk(d) for d in disks]
    group.create_volume("Volume1", "mirrored", [(ds[0], 0, 20480), (ds[2], 0, 20480)])
    group.create_volume("Volume2", "simple", [(ds[1], 0, 8192)])
    group.create_volume("Volume3", "simple", [(ds[2], 20480, 4096)])
    group.commit()
    for d in disks:
        d.close()

    present = [bootmirror.Disk.open(p, writable=True) for p in paths[:2]]
    back = ldm.read_group(present)
    missing = back.disk("Disk3")
    assert not missing.present
    assert back.volume("Volume1").status == "Failed Rd"
    assert_ldmtool_sees(back, paths[:2])

    with pytest.raises(bootmirror.UsageError, match="only copy"):
        back.delete_disk(missing)
    with pytest.raises(bootmirror.UsageError, match="not missing"):
        back.delete_disk("Disk1")
    back.delete_volume("Volume3")
    back.delete_disk("Disk3")  # takes Volume1's plex on the missing disk with it
    back.commit()
    for d in present:
        d.close()
    final = ldm.read_group([bootmirror.Disk.open(p) for p in paths[:2]])
    assert [d.name for d in final.disks] == ["Disk1", "Disk2"]
    assert final.volume("Volume1").layout == "simple"
    assert_ldmtool_sees(final, paths[:2])


def test_disks_left_apart_by_a_power_cut_agree_after_the_next_commit(tmp_path):
    """A cut after the first disk's switch: that disk is newer. libldm refuses the pair (it wants
    equal sequences); bootmirror takes the newer disk, as Windows does, and its next commit brings
    the other disk up to date, after which ldmtool reads the pair again."""
    paths = [tmp_path / f"d{i}.img" for i in range(2)]
    disks = [bootmirror.Disk.create(p, 32 * MiB) for p in paths]
    group = ldm.DiskGroup.create("WIN-CUT-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 8192), (b, 0, 8192)])
    group.commit()
    for d in disks:
        d.close()

    faulty = [bootmirror.FaultyDisk(bootmirror.Disk.open(p, writable=True)) for p in paths]
    faulty[1].cut_power_after(0)  # the second disk sees none of this commit
    g = ldm.read_group(faulty)
    g.create_volume("Volume2", "simple", [(g.disk("Disk1"), 8192, 2048)])
    g.commit()
    for f in faulty:
        f.close()
    result = run_tool(["ldmtool", "scan", *map(str, paths)], check=False)
    assert "inconsistent" in result.stderr

    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    newest = ldm.read_group(disks)
    assert [v.name for v in newest.volumes] == ["Volume1", "Volume2"]
    assert [d.committed_seq for d in newest._core.disks] == [2, 1]
    newest.commit()
    for d in disks:
        d.close()
    back = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    assert_ldmtool_sees(back, paths)


@pytest.mark.parametrize("prefix", ["ldm-2003r2-", "ldm-2008r2-"])
def test_a_commit_into_windows_own_group(tmp_path, prefix):
    """Changing a disk group Windows made: the other records, their slots (two-slot disk records
    included) and the PRIVHEAD version stay; ldmtool reads the result."""
    paths = unpack_windows(tmp_path, prefix=prefix)
    disks = [bootmirror.Disk.open(p, writable=True) for p in paths]
    group = ldm.read_group(disks)
    before = {v.name: (v.guid, v.layout, v.size) for v in group.volumes}
    version = disks[0].read(6 * 512 + 0x0C, 4)
    target = max(group.disks, key=lambda d: max((n for _, n in d.free_extents()), default=0))
    start, size = max(target.free_extents(), key=lambda run: run[1])
    group.create_volume("Added1", "simple", [(target, start, min(size, 2048))], drive_hint="Z:")
    group.delete_volume(group.volumes[0].name)
    group.commit()
    for d in disks:
        d.close()
    back = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    after = {v.name: (v.guid, v.layout, v.size) for v in back.volumes}
    removed = next(iter(before))
    assert {k: v for k, v in before.items() if k != removed} == {k: v for k, v in after.items() if k != "Added1"}
    assert after["Added1"][1:] == ("simple", min(size, 2048))
    assert bootmirror.Disk.open(paths[0]).read(6 * 512 + 0x0C, 4) == version
    assert_ldmtool_sees(back, paths)

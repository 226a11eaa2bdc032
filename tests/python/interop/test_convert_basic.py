"""convert basic keepdata (issue 14): a dynamic GPT disk goes back to basic with its data. Its plex
of the mirrored C: and its simple volume E: become basic data partitions at the same extents, the
LDM metadata partition goes back to the MSR, and the disk leaves the group. The outside tools
agree: the files read the same (fsck.fat and mtools for E:, ntfsfix and our NTFS reader for C:'s
copy), sgdisk -v finds nothing wrong, and ldmtool no longer lists the disk. Refusals change
nothing. (Every power cut in it: tests/python/crash/test_crash_machine.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bootmirror import Disk, Machine, UsageError, ntfs
from conftest import run_tool
from fat_helpers import assert_fsck_clean, mtools_tree
from ldm_helpers import BOOT_VOLUME_C_BOTH_DYNAMIC, scan, show
from ntfs_helpers import assert_ntfs_tools_accept, image_of

MiB = 1 << 20
FILES = {"hello.txt": b"hello from E:\n", "data/big.bin": bytes(range(256)) * 4096, "data/empty.txt": b""}


def _mirrored_with_e(folder: Path) -> Machine:
    """Both disks dynamic, C: (NTFS) mirrored onto disk 1, and E: (FAT, FILES) a simple volume on
    disk 1."""
    m = Machine.create(folder)
    m.create_disk("340 MiB")
    m.create_disk("600 MiB")
    m.diskpart(BOOT_VOLUME_C_BOTH_DYNAMIC, check=True)
    m.reboot()
    m.format("c:", "/fs:ntfs /q /y")
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    group = m.disk_group
    shadow = next(d for d in group.disks if d.present and d.disk.path == str(folder / "disk1.img"))
    start, _ = max(shadow.free_extents(), key=lambda e: e[1])
    group.create_volume("Volume2", "simple", [(shadow, start, 80 * 2048)], drive_hint="E:")
    group.commit()
    m.format("e:", "/fs:fat /q /y")
    e = m.volume("e:")
    e.makedirs("data")
    for path, data in FILES.items():
        e.write_bytes(path, data)
    e.flush()
    return m


def _hashes(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_convert_basic_keepdata_keeps_every_file_and_the_outside_tools_agree(tmp_path):
    folder = tmp_path / "m"
    m = _mirrored_with_e(folder)
    c_root = sorted(m.volume("c:").listdir(""))
    text = m.diskpart("select disk 1\nconvert basic keepdata", check=True)
    assert text.rstrip().endswith("Diskpart successfully converted the selected disk to basic format.")
    listing = m.diskpart("list disk\nlist volume\nselect disk 1\nlist partition")
    assert "Disk 1    Online       600 MB   180 MB        *" in listing  # no longer Dyn
    assert "C                       Simple" in listing.replace("NTFS   Simple", "       Simple")  # the mirror goes on, simple
    # E: kept its letter, now on a basic partition, with every file.
    e = m.volume("e:")
    assert {p: e.read_bytes(p) for p in FILES} == FILES
    parts = m.disk(1).partitions
    assert [p.kind for p in parts] == ["msr", "efi", "msr", "basic", "basic"]
    assert parts[0].first_lba == 34 and parts[0].size == 32 * MiB  # the MSR has its metadata sectors back
    c_copy, e_part = parts[3], parts[4]
    m.close()

    image = folder / "disk1.img"
    verify = run_tool(["sgdisk", "-v", str(image)])
    assert "No problems found" in verify.stdout, verify.stdout
    assert_fsck_clean(image, e_part.offset, tmp_path)
    assert mtools_tree(tmp_path, image, e_part.offset) == ["data", "data/big.bin", "data/empty.txt", "hello.txt"]
    with Disk.open(image) as disk:
        copy = image_of(disk, c_copy.offset, c_copy.size, tmp_path / "c-copy.img")
        assert sorted(ntfs.open(disk.slice(c_copy.offset, c_copy.size)).listdir("")) == c_root
    assert_ntfs_tools_accept(copy)
    # ldmtool: disk 1 alone is no LDM disk; with disk 0, the group has disk 0 only.
    assert scan([image]) == []
    (guid,) = scan([folder / "disk0.img", image])
    assert len(show([folder / "disk0.img", image], "diskgroup", guid)["disks"]) == 1


def test_refused_conversions_change_nothing(tmp_path):
    folder = tmp_path / "m"
    m = _mirrored_with_e(folder)
    # A third disk, and a volume spanned over disk 1 and it: no single basic partition can hold it.
    m.create_disk("200 MiB")
    m.diskpart("select disk 2\nconvert gpt\nconvert dynamic", check=True)
    group = m.disk_group
    disks = {d.disk.path: d for d in group.disks if d.present}
    d1, d2 = disks[str(folder / "disk1.img")], disks[str(folder / "disk2.img")]
    (s1, _), (s2, _) = max(d1.free_extents(), key=lambda e: e[1]), max(d2.free_extents(), key=lambda e: e[1])
    group.create_volume("Volume3", "spanned", [(d1, s1, 8 * 2048), (d2, s2, 8 * 2048)])
    group.commit()
    m.close()
    before = _hashes(folder)
    with Machine.open(folder) as m:
        for script, message in [
            ("select disk 1\nconvert basic keepdata", "Volume 3 \\(Volume3\\) is spanned: only simple volumes and the plexes of mirrors"),
            ("select disk 1\nconvert basic", "The disk is not empty."),
            ("select disk 1\nconvert basic now", "The arguments you specified for this command are not valid."),
            ("select disk 0\nconvert gpt", "not convertible"),
        ]:
            with pytest.raises(UsageError, match=message):
                m.diskpart(script, check=True)
    assert _hashes(folder) == before

"""NTFS writes under the write-back crash model. `ntfs.format` (mkntfs's volume copied in) leaves
the old file system, no file system, or the whole new volume; `ntfs.install_tree` (wimlib's
changes copied back) leaves the tree as it was, as it is after, or a volume whose $Volume says
it is dirty, which Windows checks at boot. Every state that reads as a volume is one ntfsfix and
ntfs-3g.probe accept."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, _core, fat, ntfs
from conftest import run_tool
from crash_helpers import completed, states, to_file

MiB = 1 << 20


def _view(disk: Disk):
    try:
        v = ntfs.open(disk)
    except bootmirror.FormatError:
        pass
    else:
        files = []
        try:
            for folder, dirs, names in v.walk():
                for name in dirs + names:
                    path = f"{folder}/{name}" if folder else name
                    files.append((path, None if v.isdir(path) else hashlib.sha256(v.read_bytes(path)).hexdigest()[:16]))
        except bootmirror.FormatError as e:
            return ("NTFS, damaged", str(e))
        return ("NTFS", v.label, v.dirty, tuple(sorted(files)))
    try:
        return ("FAT", fat.open(disk).label)
    except bootmirror.FormatError:
        return ("no file system",)


def _accepted(disk: Disk, image: Path) -> None:
    to_file(disk, image)
    for command in (["ntfsfix", "-n", str(image)], ["ntfs-3g.probe", "--readonly", str(image)]):
        result = run_tool(command, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    image.unlink()


def _tree(root: Path, files: int, tag: bytes) -> Path:
    (root / "WINDOWS" / "system32").mkdir(parents=True)
    for i in range(files):
        (root / "WINDOWS" / "system32" / f"driver {i:03d}.sys").write_bytes(tag * (i * 97 + 1))
    (root / "WINDOWS" / "system32" / "ntoskrnl.exe").write_bytes(tag * 300_000)
    return root


def test_every_crash_of_format_leaves_the_old_volume_none_or_the_new_one(tmp_path):
    with bootmirror.deterministic(seed=9, epoch=1_750_000_000):
        base = Disk.memory(48 * MiB)
        fat.format(base, "FAT16", label="OLD")
    operation = lambda disks: ntfs.format(disks[0], label="PRIMARY")  # noqa: E731
    old, new = _view(base), _view(completed(operation, [base])[0])
    assert old[0] == "FAT" and new[0] == "NTFS"
    for k, (state, (disk,)) in enumerate(states(operation, [base], "ntfs: format")):
        seen = _view(disk)
        assert seen in (old, new, ("no file system",)), state.description
        if seen == new:
            _accepted(disk, tmp_path / f"state{k}.img")


def test_every_crash_of_install_tree_leaves_the_tree_as_before_after_or_the_volume_dirty(tmp_path):
    with bootmirror.deterministic(seed=9, epoch=1_750_000_000):
        base = Disk.memory(48 * MiB)
        ntfs.format(base, label="PRIMARY")
        ntfs.install_tree(base, _tree(tmp_path / "first", 5, b"a"))
    second = _tree(tmp_path / "second" / "Program Files", 60, b"b").parent
    operation = lambda disks: ntfs.install_tree(disks[0], second)  # noqa: E731
    old, new = _view(base), _view(completed(operation, [base])[0])
    assert old != new and not old[2] and not new[2]
    _, flag_bytes = _core.NtfsVolume.open(base.device).volume_record_place()
    dirty_seen = 0
    for k, (state, (disk,)) in enumerate(states(operation, [base], "ntfs: install a tree")):
        seen = _view(disk)
        marked = any(disk.read(b, 1)[0] & 1 for b in flag_bytes)
        if not marked:
            assert seen in (old, new), state.description
            _accepted(disk, tmp_path / f"state{k}.img")
        else:
            # Anything else says it needs checking, in the $MFT's copy of $Volume or in its mirror.
            dirty_seen += 1
    assert dirty_seen, "no crash state fell between the dirty mark and the clean $Volume"

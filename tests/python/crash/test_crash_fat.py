"""FAT writes under the write-back crash model: format, file writes, replacements, folders, renames,
removals and bulk imports. After any crash every file and folder is as it was before the operation
or as it is after it (never a mix, never someone else's clusters), fsck.fat -n finds at worst
clusters the crash leaked (which check(repair=True) frees), and after that repair fsck.fat finds
nothing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, fat
from conftest import run_tool
from crash_helpers import completed, states, to_file

MiB = 1 << 20

# What fsck.fat says of clusters a crash leaked, of the free-count hint, and of FAT copies a crash
# left different: no file or folder is affected.
HARMLESS = re.compile(r"(\d+ )?(unused clusters|Reclaimed|Free cluster summary|FATs differ|Dirty bit is set|"
                      r"^fsck\.fat|^Checking|^Starting|^\s*$|Leaving filesystem|Performing changes|^/dev|"
                      r"files?, \d+/\d+ clusters|Using first FAT|Automatically removing|Moving dirty|"
                      r"Copying FAT|Cluster \d+ is unused|mark|^\s+\d+ |Auto-correcting|"
                      # A label the crash left new in the root and old in the boot sector.
                      r"Volume label .* stored in root directory and label .* stored in boot sector|"
                      r"Auto-copying volume label|"
                      # ... or the label new in the boot sector and old in its FAT32 backup.
                      r"differences between boot sector and its backup|mostly harmless|^\s*,?\s*\d+:[0-9a-f]{2}/|"
                      r"Not automatically fixing)", re.I)



def _tree(volume: fat.Volume):
    """Every folder and file with its content's hash: what a reader sees."""
    out = {}
    for path, dirs, files in volume.walk():
        for d in dirs:
            out[f"{path}/{d}".lstrip("/")] = "<dir>"
        for f in files:
            p = f"{path}/{f}".lstrip("/")
            out[p] = hashlib.sha256(volume.read_bytes(p)).hexdigest()[:16]
    return out


def _view(disk: Disk):
    try:
        v = fat.open(disk)
        return (v.fat_type, v.label, tuple(sorted(_tree(v).items())))
    except bootmirror.FormatError:
        return ("no file system",)


def _fsck(image: Path):
    result = run_tool(["fsck.fat", "-n", str(image)], check=False)
    return result.returncode, result.stdout + result.stderr


def _volume(size=40 * MiB, fs="FAT32") -> Disk:
    with bootmirror.deterministic(seed=7, epoch=1_750_000_000):
        disk = Disk.memory(size)
        fat.format(disk, fs, label="OLD")
        v = fat.open(disk)
        v.makedirs("EFI/Microsoft/WINNT50")
        v.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"L" * 70_000)
        v.write_bytes("EFI/Microsoft/WINNT50/Boot0003", b"B" * 3_000)
        v.write_bytes("small.txt", b"s" * 100)
        v.flush()
    return disk


def _import(tmp: Path):
    src = tmp / "tree"
    (src / "EFI" / "Boot").mkdir(parents=True)
    for i in range(6):
        (src / "EFI" / "Boot" / f"file {i} with a long name.bin").write_bytes(bytes([i]) * (i * 3000 + 1))
    # More than the 2 MiB write-combining buffer: its first fill is written behind, by a worker.
    for i in range(3):
        (src / "EFI" / f"big {i}.bin").write_bytes(bytes([0x40 + i]) * 900_000)
    return lambda v: v.import_tree(src, "")


OPERATIONS = {
    "format as FAT16": lambda tmp: lambda d: fat.format(d, "FAT16", label="NEW"),
    "format as FAT32": lambda tmp: lambda d: fat.format(d, "FAT32", label="NEW"),
    "write a new file": lambda tmp: lambda d: fat.open(d).write_bytes("new file.bin", b"n" * 50_000),
    "replace a file with a bigger one": lambda tmp: lambda d: fat.open(d).write_bytes("small.txt", b"S" * 20_000),
    "replace a file with a smaller one": lambda tmp: lambda d: fat.open(d).write_bytes(
        "EFI/Microsoft/WINNT50/ia64ldr.efi", b"l" * 5_000),
    "remove a file": lambda tmp: lambda d: fat.open(d).remove("EFI/Microsoft/WINNT50/ia64ldr.efi"),
    "make folders": lambda tmp: lambda d: fat.open(d).makedirs("MSUtil/deeper/still"),
    "rename across folders": lambda tmp: lambda d: fat.open(d).rename("small.txt", "EFI/moved with a long name.txt"),
    "set the label": lambda tmp: lambda d: setattr(fat.open(d), "label", "NEWLABEL"),
    "import a tree": lambda tmp: (lambda imp: lambda d: imp(fat.open(d)))(_import(tmp)),
}


@pytest.mark.parametrize("fs", ["FAT16", "FAT32"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_crash_leaves_each_file_as_before_or_after(name, fs, tmp_path):
    base = _volume(fs=fs)
    operation = OPERATIONS[name](tmp_path)
    old = _view(base)
    new = _view(completed(lambda disks: operation(disks[0]), [base])[0])
    assert old != new
    for k, (state, (disk,)) in enumerate(states(lambda disks: operation(disks[0]), [base], f"fat ({fs}): {name}")):
        seen = _view(disk)
        moving = name.startswith("rename") and seen == _union(old, new)
        if name.startswith("format"):
            # Formatting wipes the old boot sector first: a crash may leave no file system.
            assert seen in (old, new, ("no file system",)), state.description
            if seen == ("no file system",):
                continue
        elif not moving:
            assert seen in (old, new), f"{state.description}\n{seen}\nold {old}\nnew {new}"
        image = to_file(disk, tmp_path / f"state{k}.img")
        code, said = _fsck(image)
        # A move cut in two leaves entries fsck.fat reports by their paths: only the repair counts.
        bad = [] if moving else [line for line in said.splitlines() if not HARMLESS.search(line)]
        assert code in (0, 1) and not bad, f"{state.description}\n{said}"
        with Disk.open(image, writable=True) as d:
            fat.open(d).check(repair=True)
            assert _view(d) in (old, new), f"after repair: {state.description}"
        code, said = _fsck(image)
        assert code == 0, f"after repair: {state.description}\n{said}"
        image.unlink()


def _union(old, new):
    """A file both where it was and where it went: a move the crash cut between its two steps."""
    return (old[0], old[1], tuple(sorted(set(old[2]) | set(new[2]))))


def _esp_source() -> fat.Volume:
    """The primary ESP a sync copies from (never written: not one of the crashed disks)."""
    with bootmirror.deterministic(seed=8, epoch=1_760_000_000):
        disk = Disk.memory(40 * MiB)
        fat.format(disk, "FAT32", label="NEW")
        v = fat.open(disk)
        v.makedirs("EFI/Microsoft/WINNT50")
        v.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"N" * 90_000)  # changed: bigger
        v.write_bytes("EFI/Microsoft/WINNT50/Boot0004", b"4" * 2_000)       # new
        v.set_attributes("EFI/Microsoft/WINNT50/Boot0004", fat.HIDDEN | fat.SYSTEM | fat.ARCHIVE)
        v.makedirs("MSUtil")
        v.write_bytes("MSUtil/nvrboot.efi", b"v" * 30_000)                  # new, in a new folder
    return v                                                                # small.txt and Boot0003: removed


def test_every_crash_of_a_sync_leaves_each_file_as_before_or_as_the_sources_and_a_second_sync_finishes(tmp_path):
    source = _esp_source()
    base = _volume()
    sync = lambda disks: fat.sync_tree(source, fat.open(disks[0]))  # noqa: E731
    old = dict(_view(base)[2])
    new = dict(_view(completed(sync, [base])[0])[2])
    assert new == dict(_tree(source)) and old != new
    for k, (state, (disk,)) in enumerate(states(sync, [base], "fat: sync a tree (esp sync)")):
        seen = dict(_view(disk)[2])
        for path, value in seen.items():  # one crash-safe write at a time: never a mix within a file
            assert value in (old.get(path), new.get(path)), f"{state.description}: {path}"
        image = to_file(disk, tmp_path / f"state{k}.img")
        code, said = _fsck(image)
        bad = [line for line in said.splitlines() if not HARMLESS.search(line)]
        assert code in (0, 1) and not bad, f"{state.description}\n{said}"
        with Disk.open(image, writable=True) as d:
            target = fat.open(d)
            target.check(repair=True)
            fat.sync_tree(source, target)
            assert fat.compare_trees(source, target) == [] and dict(_tree(target)) == new, state.description
        image.unlink()

"""mtools (mdir, mattrib, mcopy) see exactly the tree we write, and volumes made by mkfs.fat and
filled by mtools read back identically through our API."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

import bootmirror
from bootmirror import fat
from conftest import require_tool, run_tool
from fat_helpers import assert_fsck_clean, host_tree, mtool, mtools_attributes, mtools_env, mtools_tree, volume_tree

MiB = 1024 * 1024


def _sample_tree(root):
    rnd = random.Random(5)
    files = {
        "EFI/Microsoft/Boot/bootmgfw.efi": rnd.randbytes(70000),
        "EFI/Microsoft/Boot/BCD": rnd.randbytes(12288),
        "EFI/Boot/bootx64.efi": rnd.randbytes(3000),
        "README.TXT": b"upper 8.3",
        "notes.txt": b"lower 8.3",
        "Mixed Case.Txt": b"mixed",
        "A rather long file name, with spaces & symbols (1).data": rnd.randbytes(5000),
        "ünïcödé ☃.txt": "snow".encode(),
        "deep/l1/l2/l3/l4/l5/l6/l7/leaf.bin": b"leaf",
        "empty.bin": b"",
    }
    for i in range(30):
        files[f"many/file with long name {i:02}.txt"] = str(i).encode() * (i * 37)
    for path, data in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "empty folder").mkdir()
    return files


@pytest.mark.parametrize("fs,size,sector", [("FAT12", 4 * MiB, 512), ("FAT", 64 * MiB, 512),
                                             ("FAT32", 64 * MiB, 512), ("FAT", 64 * MiB, 4096),
                                             ("FAT32", 300 * MiB, 4096)])
def test_mtools_sees_our_tree(tmp_path, fs, size, sector):
    src = tmp_path / "src"
    _sample_tree(src)
    image = tmp_path / "vol.img"
    with bootmirror.Disk.create(image, size, sector_size=sector) as disk:
        fat.format(disk, fs, label="OURS")
        v = fat.open(disk)
        v.import_tree(src, "")
        v.set_attributes("README.TXT", fat.HIDDEN | fat.SYSTEM | fat.READ_ONLY)
        v.set_attributes("EFI/Boot/bootx64.efi", fat.ARCHIVE | fat.HIDDEN)
        ours = volume_tree(v)
        short = {e.name: e.short_name for e in v.scandir("")}
    assert_fsck_clean(image)
    # Names (long where there is one) and folders.
    assert mtools_tree(tmp_path, image) == sorted(ours)
    # Attributes.
    attrs = mtools_attributes(tmp_path, image)
    assert attrs["README.TXT"] == "HRS"
    assert attrs["EFI/Boot/bootx64.efi"] == "AH"
    assert attrs["notes.txt"] == "A"
    # Short names as mdir lists them beside the long ones.
    listing = mtool(tmp_path, "mdir", image, "-a", "::/")
    for long_name, short_name in short.items():
        base, _, ext = short_name.partition(".")
        assert any(line.upper().startswith(f"{base:<8} {ext:<3}") for line in listing.splitlines()), (short_name, listing)
    # Bytes: mcopy everything out and compare.
    out = tmp_path / "out"
    out.mkdir()
    mtool(tmp_path, "mcopy", image, "-s", "-n", "-p", "::/*", str(out))
    assert host_tree(out) == ours


def _mkfs_and_fill(tmp_path, fat_bits, size_kib):
    image = tmp_path / "theirs.img"
    run_tool(["mkfs.fat", "-F", str(fat_bits), "-C", "-n", "THEIRS", str(image), str(size_kib)])
    env = mtools_env(tmp_path)
    rnd = random.Random(fat_bits)
    expected = {}

    def mcopy(data: bytes, dest: str):
        tmp = tmp_path / "payload"
        tmp.write_bytes(data)
        subprocess.run([require_tool("mcopy"), "-i", str(image), "-o", str(tmp), "::/" + dest], check=True, env=env)
        expected[dest] = data

    def mmd(path: str):
        subprocess.run([require_tool("mmd"), "-i", str(image), "::/" + path], check=True, env=env)
        expected[path] = None

    for d in ["EFI", "EFI/Microsoft", "EFI/Microsoft/Boot", "deep", "deep/a", "deep/a/b", "deep/a/b/c",
              "deep/a/b/c/Folder With A Long Name", "empty folder"]:
        mmd(d)
    mcopy(rnd.randbytes(50000), "EFI/Microsoft/Boot/bootmgfw.efi")
    mcopy(b"hidden", "EFI/hidden file.txt")
    subprocess.run([require_tool("mattrib"), "-i", str(image), "+h", "::/EFI/hidden file.txt"], check=True, env=env)
    mcopy(b"deep", "deep/a/b/c/Folder With A Long Name/a very long name indeed for a file.json")
    # Fragmentation: fill with small files, delete every other one, then write a big file that
    # has to use the holes.
    for i in range(40):
        mcopy(rnd.randbytes(3000), f"frag{i:02}.bin")
    for i in range(0, 40, 2):
        subprocess.run([require_tool("mdel"), "-i", str(image), f"::/frag{i:02}.bin"], check=True, env=env)
        del expected[f"frag{i:02}.bin"]
    mcopy(rnd.randbytes(40000), "fragmented big file.bin")
    return image, expected


@pytest.mark.parametrize("bits,size_kib", [(12, 4096), (16, 40960), (32, 70000)])
def test_we_read_mkfs_and_mtools_volumes(tmp_path, bits, size_kib):
    image, expected = _mkfs_and_fill(tmp_path, bits, size_kib)
    with bootmirror.Disk.open(image) as disk:
        v = fat.open(disk)
        assert v.fat_type == f"FAT{bits}"
        assert v.label == "THEIRS"
        assert volume_tree(v) == expected
        assert v.stat("EFI/hidden file.txt").attributes & fat.HIDDEN
        first = v.stat("fragmented big file.bin").first_cluster
        assert first  # and the chain is fragmented, which read_bytes followed above
        assert v.check().clean
        out = tmp_path / "exported"
        v.export_tree("", out)
    assert host_tree(out) == expected


def test_we_write_into_mkfs_volumes(tmp_path):
    image, expected = _mkfs_and_fill(tmp_path, 16, 40960)
    with bootmirror.Disk.open(image, writable=True) as disk:
        v = fat.open(disk)
        v.write_bytes("deep/a/b/c/ours with long name.txt", b"ours")
        v.remove("EFI/hidden file.txt")
        v.rename("frag01.bin", "EFI/renamed frag.bin")
    assert_fsck_clean(image)
    paths = mtools_tree(tmp_path, image)
    assert "deep/a/b/c/ours with long name.txt" in paths
    assert "EFI/renamed frag.bin" in paths and "frag01.bin" not in paths


def test_many_similar_long_names_in_one_folder(tmp_path):
    """Short names after ~4 switch to Windows' hashed form (AB12CD~1), so a folder of thousands of
    similar names stays fast; fsck.fat and mtools accept every one of them."""
    image = tmp_path / "many.img"
    with bootmirror.Disk.create(image, 64 * MiB) as disk:
        fat.format(disk, "FAT32")
        v = fat.open(disk)
        v.makedirs("F")
        for i in range(3000):
            v.write_bytes(f"F/some file with a long name {i}.txt", str(i).encode())
        shorts = [e.short_name for e in v.scandir("F")]
    assert len(set(shorts)) == 3000 and shorts[:4] == [f"SOMEFI~{n}.TXT" for n in range(1, 5)]
    assert_fsck_clean(image)
    paths = mtools_tree(tmp_path, image)
    assert sum(p.startswith("F/some file with a long name ") for p in paths) == 3000

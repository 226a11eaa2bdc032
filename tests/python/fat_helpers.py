"""Helpers shared by the FAT tests: outside readers (fsck.fat, mtools) pointed at our images."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from conftest import outside_tool_env, require_tool, run_tool


def mtools_env(tmp_path: Path, codepage: Optional[int] = None) -> Dict[str, str]:
    """An environment where mtools reads only what we give it (no user config, no geometry checks).
    `codepage` is the DOS code page mtools reads and writes 8.3 names in (its default is 850)."""
    rc = tmp_path / (f"mtoolsrc{codepage}" if codepage else "mtoolsrc")
    rc.write_text("mtools_skip_check=1\n" + (f"default_codepage={codepage}\n" if codepage else ""))
    env = outside_tool_env()
    env.update({"MTOOLSRC": str(rc), "MTOOLS_SKIP_CHECK": "1", "MTOOLS_LOWER_CASE": "0", "LC_ALL": "C.UTF-8"})
    return env


def image_arg(path: Path, offset: int = 0) -> str:
    return f"{path}@@{offset}" if offset else str(path)


def mtool(tmp_path: Path, tool: str, image: Path, *args: str, offset: int = 0, check: bool = True,
          codepage: Optional[int] = None) -> str:
    exe = require_tool(tool)
    r = subprocess.run([exe, "-i", image_arg(image, offset), *args], capture_output=True,
                       env=mtools_env(tmp_path, codepage))
    if check and r.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode("utf-8", errors="replace")


def fsck(image: Path, offset: int = 0, tmp_path: Optional[Path] = None,
         length: Optional[int] = None) -> subprocess.CompletedProcess:
    """fsck.fat -n on an image (or on a partition inside it, copied out when there is an offset;
    `length` defaults to the volume size its boot sector gives)."""
    target = image
    if offset:
        assert tmp_path is not None
        target = tmp_path / "partition.img"
        with open(image, "rb") as src, open(target, "wb") as dst:
            src.seek(offset)
            if length is None:
                boot = src.read(512)
                sectors = int.from_bytes(boot[19:21], "little") or int.from_bytes(boot[32:36], "little")
                length = sectors * int.from_bytes(boot[11:13], "little")
                src.seek(offset)
            left = length
            while left and (chunk := src.read(min(left, 1 << 20))):
                dst.write(chunk)
                left -= len(chunk)
    return run_tool(["fsck.fat", "-n", "-v", str(target)], check=False)


def assert_fsck_clean(image: Path, offset: int = 0, tmp_path: Optional[Path] = None) -> str:
    """fsck.fat -n exits 1 as soon as it would change anything; a clean volume gives 0 and no
    report of what it would do."""
    r = fsck(image, offset, tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"fsck.fat -n exit {r.returncode}:\n{out}"
    assert "Leaving filesystem unchanged" not in out and "differ" not in out, out
    return out


def mtools_tree(tmp_path: Path, image: Path, offset: int = 0) -> List[str]:
    """Every path mtools sees, '/'-separated, without the '::' prefix, sorted."""
    out = mtool(tmp_path, "mdir", image, "-/", "-b", "-a", "::/", offset=offset)
    paths = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("::"):
            continue
        p = line[2:].lstrip("/")
        if p.endswith("/."):
            continue
        if p.endswith("/.."):
            continue
        if p:
            paths.append(p.rstrip("/"))
    return sorted(set(paths))


def mtools_attributes(tmp_path: Path, image: Path, offset: int = 0) -> Dict[str, str]:
    """path -> attribute letters (A, H, S, R) as mattrib shows them."""
    out = mtool(tmp_path, "mattrib", image, "-/", "::/", offset=offset)
    attrs = {}
    for line in out.splitlines():
        if "::" not in line:
            continue
        flags, path = line.split("::", 1)
        attrs[path.lstrip("/")] = "".join(sorted(flags.replace(" ", "")))
    return attrs


def host_tree(root: Path) -> Dict[str, Optional[bytes]]:
    """path -> bytes for files, None for folders, relative to root with '/'."""
    tree: Dict[str, Optional[bytes]] = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            tree[os.path.normpath(os.path.join(rel, d)).replace(os.sep, "/")] = None
        for f in files:
            tree[os.path.normpath(os.path.join(rel, f)).replace(os.sep, "/")] = Path(dirpath, f).read_bytes()
    return tree


def volume_tree(vol) -> Dict[str, Optional[bytes]]:
    tree: Dict[str, Optional[bytes]] = {}
    for path, dirs, files in vol.walk(""):
        for d in dirs:
            tree[f"{path}/{d}" if path else d] = None
        for f in files:
            p = f"{path}/{f}" if path else f
            tree[p] = vol.read_bytes(p)
    return tree


# -- crafting damaged images -------------------------------------------------------------------------
def cluster_offset(g, cluster: int) -> int:
    return g.data_offset + (cluster - 2) * g.cluster_size


def folder_region(vol, path: str = ""):
    """(offset, length) of a folder's first cluster, or of the FAT12/16 fixed root region."""
    g = vol.geometry
    if not path and g.type != "FAT32":
        return g.data_offset - 32 * g.root_entries, 32 * g.root_entries
    cluster = vol.stat(path).first_cluster if path else g.root_cluster
    return cluster_offset(g, cluster), g.cluster_size


def entry_offset(disk, vol, folder: str, raw_name: bytes) -> int:
    """The byte offset of the short entry whose 11-byte name is `raw_name` in `folder`'s first
    cluster (or the fixed root)."""
    offset, length = folder_region(vol, folder)
    block = disk.read(offset, length)
    for i in range(0, length, 32):
        if block[i:i + 11] == raw_name and block[i + 11] != 0x0F:
            return offset + i
    raise AssertionError(f"no entry {raw_name!r} in {folder!r}")


def set_fat_entry(disk, vol, cluster: int, value: int) -> None:
    """Writes one FAT12/16/32 entry in every FAT copy."""
    g = vol.geometry
    for copy in range(g.fat_count):
        base = (g.reserved_sectors + copy * g.sectors_per_fat) * g.bytes_per_sector
        if g.type == "FAT12":
            at = base + cluster + cluster // 2
            pair = int.from_bytes(disk.read(at, 2), "little")
            pair = (pair & 0x000F) | (value << 4) if cluster & 1 else (pair & 0xF000) | value
            disk.write(at, (pair & 0xFFFF).to_bytes(2, "little"))
        elif g.type == "FAT16":
            disk.write(base + 2 * cluster, (value & 0xFFFF).to_bytes(2, "little"))
        else:
            disk.write(base + 4 * cluster, (value & 0x0FFFFFFF).to_bytes(4, "little"))


def image_digest(disk) -> str:
    import hashlib

    return hashlib.sha256(disk.read(0, disk.size)).hexdigest()


def fuzz_bases():
    """fs -> (image bytes, end of the metadata worth damaging): small volumes with nested folders,
    long names and a folder grown past one cluster, for the random-damage tests."""
    import bootmirror
    from bootmirror import fat

    bases = {}
    for fs, size in [("FAT12", 1 << 20), ("FAT16", 17 << 20), ("FAT32", 34 << 20)]:
        disk = bootmirror.Disk.memory(size)
        fat.format(disk, fs, serial=1)
        v = fat.open(disk)
        v.makedirs("EFI/Boot/deeper")
        for i in range(12):
            v.write_bytes(f"EFI/Boot/file with a long name {i}.bin", bytes([i]) * (i * 700))
        v.write_bytes("root.txt", b"r" * 3000)
        v.flush()
        bases[fs] = (disk.read(0, size), v.geometry.data_offset + 16 * v.geometry.cluster_size)
    return bases

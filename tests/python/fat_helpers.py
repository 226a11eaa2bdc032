"""Helpers shared by the FAT tests: outside readers (fsck.fat, mtools) pointed at our images."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from conftest import require_tool, run_tool


def mtools_env(tmp_path: Path) -> Dict[str, str]:
    """An environment where mtools reads only what we give it (no user config, no geometry checks)."""
    rc = tmp_path / "mtoolsrc"
    rc.write_text("mtools_skip_check=1\n")
    env = dict(os.environ)
    env.update({"MTOOLSRC": str(rc), "MTOOLS_SKIP_CHECK": "1", "MTOOLS_LOWER_CASE": "0", "LC_ALL": "C.UTF-8"})
    return env


def image_arg(path: Path, offset: int = 0) -> str:
    return f"{path}@@{offset}" if offset else str(path)


def mtool(tmp_path: Path, tool: str, image: Path, *args: str, offset: int = 0, check: bool = True) -> str:
    exe = require_tool(tool)
    r = subprocess.run([exe, "-i", image_arg(image, offset), *args], capture_output=True, env=mtools_env(tmp_path))
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

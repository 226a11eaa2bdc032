"""What the tools Linux trusts say of a machine's disks: ``sgdisk -v`` of every GPT disk,
``ldmtool scan`` of the dynamic disks, ``fsck.fat -n`` of every EFI system partition and
``ntfsfix -n`` of every NTFS volume, each plex of a mirror alone. They are run as programs (Debian's
gdisk, ldmtool, dosfstools, ntfs-3g) on sparse copies of the bytes they check; nothing of the
machine is written. ``make demo`` prints their verdicts, and the scenario tests assert them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Sequence, Tuple

from . import _core, gpt, ldm, ntfs
from .disk import Disk

if TYPE_CHECKING:
    from .machine import Machine

PACKAGES = {"sgdisk": "gdisk", "ldmtool": "ldmtool", "fsck.fat": "dosfstools", "ntfsfix": "ntfs-3g"}


@dataclass(frozen=True)
class Check:
    """One tool's verdict on one thing."""

    tool: str
    target: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.tool:9} {self.target}{'' if self.ok else ': ' + self.detail}"


def _run(argv: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    path = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/sbin")
    if path is None:
        raise FileNotFoundError(f"{argv[0]} is not installed (Debian package {PACKAGES[argv[0]]})")
    return subprocess.run([path, *argv[1:]], capture_output=True, text=True, errors="replace")


def _copy(device: Disk, path: Path) -> Path:
    """`device`'s bytes as a sparse file (only its allocated ranges are read)."""
    with open(path, "wb") as out:
        out.truncate(device.size)
        for offset, length in device.allocated_extents():
            for at in range(offset, offset + length, 8 << 20):
                out.seek(at)
                out.write(device.read(at, min(8 << 20, offset + length - at)))
    return path


def _checked(tool: str, target: str, run) -> Check:
    try:
        ok, detail = run()
    except FileNotFoundError as missing:
        return Check(tool, target, False, str(missing))
    return Check(tool, target, ok, detail)


def run_checks(machine: "Machine") -> List[Check]:
    """Every check of the module's docstring on `machine`'s present disks."""
    checks: List[Check] = []
    disks = {n: d for n, d in machine.disks.items() if d is not None}
    with tempfile.TemporaryDirectory(prefix="bootmirror-checks-") as tmp:
        folder = Path(tmp)
        for number, disk in disks.items():
            if not gpt.partitions(disk):
                continue
            image = disk.path if disk.path else _copy(disk, folder / f"disk{number}.img")

            def sgdisk(image=image):
                out = _run(["sgdisk", "-v", str(image)])
                return "No problems found" in out.stdout, (out.stdout + out.stderr).strip()
            checks.append(_checked("sgdisk", f"disk {number}", sgdisk))
            for part in gpt.partitions(disk):
                # An ESP not formatted yet (the shadow's, before format s:) has nothing to check.
                if part.kind != "efi" or not _core.file_system_on(disk.slice(part.offset, part.size).device)[0]:
                    continue
                target = f"disk {number} partition {part.number} (ESP)"

                def fsck(part=part, number=number):
                    copy = _copy(disk.slice(part.offset, part.size), folder / f"esp{number}-{part.number}.img")
                    out = _run(["fsck.fat", "-n", str(copy)])
                    return out.returncode == 0, (out.stdout + out.stderr).strip()
                checks.append(_checked("fsck.fat", target, fsck))
        groups = disk_groups(machine)
        if groups:
            images = [str(d.path) for d in disks.values() if d.path and ldm.is_dynamic(d)]

            def ldmtool(guid: str) -> "tuple[bool, str]":
                out = _run(["ldmtool", "scan", *images])
                try:
                    seen = json.loads(out.stdout)
                except ValueError:  # an error, not its JSON list (or nothing): the check failed, and says why
                    return False, (out.stdout + out.stderr).strip()
                return guid in seen, f"ldmtool sees {seen}, not {guid}"
            for group in groups:
                checks.append(_checked("ldmtool", f"disk group {group.name}", lambda guid=group.guid: ldmtool(guid)))
        for k, (target, device) in enumerate(ntfs_volumes(machine)):
            def ntfsfix(device=device, k=k):
                copy = _copy(device, folder / f"ntfs{k}.img")
                out = _run(["ntfsfix", "-n", str(copy)])
                return out.returncode == 0 and "processed successfully" in out.stdout, (out.stdout + out.stderr).strip()
            checks.append(_checked("ntfsfix", target, ntfsfix))
    return checks


def disk_groups(machine: "Machine") -> "List[ldm.DiskGroup]":
    """Every LDM disk group on the machine's present disks: its own first (the running Windows'),
    then the foreign ones (another Windows' dynamic disks), each read from its disks alone."""
    present = [d for d in machine.disks.values() if d is not None]
    remaining = [d for d in present if ldm.is_dynamic(d)]
    own = machine.disk_group
    groups = [own] if own is not None else []
    while remaining:
        group, _, foreign = ldm.scan(remaining, own.guid if own is not None else "")
        if group is None:
            break
        if own is None or group.guid != own.guid:
            groups.append(group)
        remaining = [remaining[i] for i in foreign]
        own = None  # later rounds take the group with most disks
    return groups


def ntfs_volumes(machine: "Machine") -> "Iterator[Tuple[str, Disk]]":
    """(name, bytes) of every NTFS volume: basic partitions, and each plex of a dynamic volume on
    its own, in every disk group (the running Windows' and foreign ones), except plexes on a
    missing disk and plexes a rebuild is still copying."""
    copying = set()
    own = machine.disk_group
    for index in range(len(own.volumes) if own is not None else 0):
        copying |= {(own.guid, p.name) for p in machine.dynamic_volume(str(index)).plexes if p.state == "rebuilding"}
    for group in disk_groups(machine):
        for volume in group.volumes:
            for plex in volume.plexes:
                if (group.guid, plex.name) in copying:
                    continue
                try:
                    device = volume.plex_device(plex.name)
                except _core.UsageError:  # its disk is missing
                    continue
                if _is_ntfs(device):
                    yield f"{volume.name} plex {plex.name}", device
    for number, disk in machine.disks.items():
        if disk is None:
            continue
        for part in gpt.partitions(disk):
            if part.kind == "basic" and _is_ntfs(device := disk.slice(part.offset, part.size)):
                yield f"disk {number} partition {part.number}", device


def _is_ntfs(device: Disk) -> bool:
    try:
        ntfs.open(device)
        return True
    except (_core.Error, OSError):  # no NTFS there (or unreadable): nothing for ntfsfix
        return False

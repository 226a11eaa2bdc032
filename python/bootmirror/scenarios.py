r"""Starting states and the runbook itself, as Python: KB 814070 (mirror the boot volume of a GPT
system, test-boot the shadow, recover when disk 0 dies) on image files.

    m = bootmirror.scenarios.kb814070("lab", scale=0.1)          # the machine as the article finds it
    for step in bootmirror.scenarios.kb814070_steps(m):           # every step, run as it is yielded
        print(step.title); print(step.transcript)

The article describes two machines. The first part (prepare the shadow, convert, mirror, bootcfg,
clone, test-boot) runs on :func:`kb814070`; its recovery section runs on the machine it describes
there, whose shadow disk was mirrored onto without an ESP (:func:`kb814070_without_shadow_esp`),
and :func:`kb814070_recovery_steps` replays it from disk 0's death to the re-established mirror.
Each step's text is what the article shows for it; ``scenarios`` and ``make demo`` print it,
and ``tests/python/scenarios`` compares it with the article.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Union

from . import kb814070 as _kb
from .disk import Disk
from .machine import Machine

MiB = 1 << 20
PathLike = Union[str, "os.PathLike[str]"]

#: The recovery section's machine: C: as its /list 1 gives C:'s plex, its 4149 MB shadow disk, and
#: its name for Windows' entry.
RECOVERY_C_BYTES = 3_142_056_960
RECOVERY_SHADOW_BYTES = 4149 * MiB
RECOVERY_WINDOWS_ENTRY = "Windows Server 2003, Enterprise Edition"


@dataclass
class Step:
    """One step of the runbook: the article's section and step, the commands typed, and what the
    machine answered (diskpart's, bootcfg's, format's or the firmware's text)."""

    section: str
    title: str
    commands: List[str]
    transcript: str

    def __str__(self) -> str:
        return f"[{self.section}] {self.title}\n{self.transcript}"


def kb814070(folder: PathLike, scale: float = 1.0, bootable: bool = True) -> Machine:
    """The article's machine as its first part finds it (:func:`bootmirror.kb814070.rehearsal_machine`):
    disk 0 with the ESP (the seven files xcopy lists), C: (NTFS, PRIMARY, holding \\WINDOWS) and
    the MSR at the article's offsets, a raw disk 1, the CD-ROM drive D:, and the firmware's NVRAM
    with Windows' entry, started. `scale` shrinks the disks for quick runs; `bootable` puts a real
    loader on the ESP (it boots under QEMU)."""
    return _kb.rehearsal_machine(folder, scale=scale, bootable=bootable)


def kb814070_without_shadow_esp(folder: PathLike, scale: float = 1.0, bootable: bool = True) -> Machine:
    """The machine of the article's recovery section, before its disk 0 dies: C: (2996 MB)
    mirrored onto a 4149 MB shadow disk that was converted to GPT without an ESP, Windows' entry
    and diskpart's "Boot Mirror C: - secondary plex" in NVRAM."""
    m = _kb.rehearsal_machine(folder, scale=scale, bootable=bootable, shadow_size=RECOVERY_SHADOW_BYTES,
                              boot_volume_size=RECOVERY_C_BYTES, windows_entry=RECOVERY_WINDOWS_ENTRY)
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    return m


def _diskpart(section: str, title: str, script: str) -> Callable[[Machine], Step]:
    return lambda m: Step(section, title, [line for line in script.splitlines() if line], m.diskpart(script, check=True))


def _bootcfg(section: str, title: str, arguments: Callable[[Machine], str]) -> Callable[[Machine], Step]:
    def run(m: Machine) -> Step:
        args = arguments(m)
        return Step(section, title, [f"bootcfg {args}".strip()], m.bootcfg(args, check=True))
    return run


def _esp_guid(m: Machine, disk: int) -> str:
    return re.findall(r"\{[0-9a-f-]{36}\}", m.bootcfg(f"/list {disk}"))[0]


def _reboot_step(section: str, title: str, entry: Optional[str]) -> Callable[[Machine], Step]:
    return lambda m: Step(section, title, [f"(boot menu: {entry})" if entry else "(restart)"], _boot_text(m.reboot(entry)))


def _step(section: str, title: str, command: str, run: Callable[[Machine], str]) -> Callable[[Machine], Step]:
    return lambda m: Step(section, title, [command], run(m))


_PREPARE = "Prepare the Shadow Drive for Mirroring"
_CONVERT = "Convert the Primary and Shadow Drives to Dynamic"
_MIRROR = "Establish a Mirror from the Boot Drive to the Shadow Drive"
_BOOTCFG = "Use Bootcfg.exe to Add New EFI Partition Boot Entries to NVRAM"
_TEST = "Test-Boot the Shadow Drive with the New Boot Entries"
_CLONED = "Boot Mirror C: - secondary plex Cloned_Entry"

#: The article's first part, step by step: each runs on the machine as the steps before it left
#: it (everything a step needs, it reads from the machine), so a step can be run alone.
KB814070_STEPS: List[Callable[[Machine], Step]] = [
    _diskpart(_PREPARE, "steps 2 to 4: the shadow's EFI and MSR partitions", _kb.PREPARE_SHADOW_PARTITIONS),
    _diskpart(_PREPARE, "step 5: a letter for the shadow's ESP", _kb.ASSIGN_SHADOW_ESP),
    _step(_PREPARE, "step 6: format the shadow's ESP", "format {} {}".format(*_kb.FORMAT_SHADOW_ESP),
          lambda m: m.format(*_kb.FORMAT_SHADOW_ESP)),
    _diskpart(_PREPARE, "step 7: a letter for the primary ESP", _kb.ASSIGN_PRIMARY_ESP),
    _step(_PREPARE, "step 8: copy the system files", "xcopy {} {} {}".format(*_kb.COPY_ESP), lambda m: m.xcopy(*_kb.COPY_ESP)),
    _diskpart(_PREPARE, "step 9: the letters go again", _kb.REMOVE_ESP_LETTERS),
    _diskpart(_CONVERT, "step 1: both disks", _kb.CONVERT_TO_DYNAMIC),
    _reboot_step(_CONVERT, "the restart that completes disk 0's conversion", None),
    _diskpart(_MIRROR, "step 1: mirror C: onto disk 1", _kb.MIRROR_BOOT_VOLUME),
    # "Wait for the volume synchronization to complete"
    lambda m: (m.wait(), _diskpart(_MIRROR, "step 2: the volume synchronised", "list volume")(m))[1],
    # The article's machine had been restarted from the mirror's entry before its first bootcfg
    # (whose CurrentBootEntryID is that entry's, 5).
    _reboot_step(_BOOTCFG, "a restart from the mirror's entry, as the article's machine was", "Boot Mirror C: - secondary plex"),
    _bootcfg(_BOOTCFG, "step 1: the boot entries", lambda _: ""),
    _bootcfg(_BOOTCFG, "step 2: disk 0's partitions", lambda _: "/list 0"),
    _bootcfg(_BOOTCFG, "step 3: disk 1's partitions", lambda _: "/list 1"),
    _bootcfg(_BOOTCFG, "step 4: clone the entries onto the shadow's ESP",
             lambda m: f"/clone /sg {_esp_guid(m, 0)} /tg {_esp_guid(m, 1)} /d+ Cloned_Entry"),
    _bootcfg(_BOOTCFG, "step 5: the cloned entries", lambda _: ""),
    _reboot_step(_TEST, f"restart, choosing {_CLONED!r}", _CLONED),
]


def kb814070_steps(m: Machine, qemu: bool = False) -> Iterator[Step]:
    """The article's first part on :func:`kb814070`'s machine, a step at a time (each runs when it
    is yielded; :data:`KB814070_STEPS`): prepare the shadow drive, convert both disks (with the
    restart), mirror and wait, bootcfg and /list, /clone, and the test boot of the shadow
    (emulated, and under QEMU too when `qemu`)."""
    for step in KB814070_STEPS:
        yield step(m)
    if qemu:
        real = m.boot_qemu(_CLONED)
        yield Step(_TEST, "the same boot under QEMU with OVMF", [f"(QEMU+OVMF, BootNext: {_CLONED})"], _qemu_text(m, real))


def kb814070_recovery_steps(m: Machine, replacement: PathLike, qemu: bool = False, bootable: bool = True) -> Iterator[Step]:
    """The article's recovery section on :func:`kb814070_without_shadow_esp`'s machine: disk 0
    dies, the shadow's entry fails to load, a new disk 0 (a blank image at `replacement`, of disk
    0's size) gets Windows from setup, bootcfg /list and /mirror /add, the original Windows is
    started from its shadow, the broken mirror is removed with its missing disk, setup's partition
    deleted, disk 0 converted and mirrored again, and the old entries cleaned up. `bootable`: setup
    puts a real loader on the new ESP (it boots under QEMU)."""
    recover = "Recover a Shadow Boot Drive with Missing or Damaged EFI Partition"
    size = m.disk(0).size
    m.fail_disk(0)
    failed = m.boot("Boot Mirror C: - secondary plex")
    yield Step(recover, "disk 0 dies; the shadow's entry does not load", ["(boot menu: Boot Mirror C: - secondary plex)"], failed.console)
    if qemu:
        # On a copy of the machine: OVMF adds its own entries to NVRAM as it boots, and the
        # article's bootcfg transcripts that follow were taken on a machine without them.
        with _copy_of(m) as copy:
            real = copy.boot_qemu("Boot Mirror C: - secondary plex")
            yield Step(recover, "the same on a copy of the machine, under QEMU with OVMF", ["(QEMU+OVMF)"], _qemu_text(copy, real))
    m.replace_disk(0, Disk.create(replacement, size))
    # Windows' partition the size of C:, as the article's setup made it (scaled with the machine).
    scale = min(size / (10 * 1024 * MiB), 1.0)
    windows = RECOVERY_C_BYTES if scale == 1.0 else int(RECOVERY_C_BYTES * scale) // MiB * MiB
    setup = m.install_windows(0, size=windows, bootable=bootable)
    yield Step(recover, "steps 1 to 7: a new disk 0 and Windows setup on it", ["(setup)"], _boot_text(setup))
    yield _bootcfg(recover, "step 8: the boot entries", lambda _: "")(m)
    yield _bootcfg(recover, "step 9: the shadow disk's partitions", lambda _: "/list 1")(m)
    plex = lambda m: [g for g, t in re.findall(r"Partition GUID:\s+(\{[0-9a-f-]+\})\nGUID type:\s+\{([0-9a-f-]+)\}",
                                               m.bootcfg("/list 1")) if t == "af9b60a0-1431-4f62-bc68-3311714a69ad"][0]
    yield _bootcfg(recover, "step 10: an entry for the shadow's boot partition",
                   lambda m: f'/mirror /add {plex(m)} /D "Original Shadow drive"')(m)
    yield _bootcfg(recover, "step 11: the new entry", lambda _: "")(m)
    booted = m.reboot("Original Shadow drive")
    yield Step(recover, "step 12: restart into the original Windows", ["(boot menu: Original Shadow drive)"], _boot_text(booted))
    again = "Re-Establish the Primary Boot Drive Mirror"
    yield _diskpart(again, "step 1: the failed mirror", "list volume\nselect volume 0\ndetail volume")(m)
    yield _diskpart(again, "step 2: break it from the missing disk", "break disk=m0 nokeep\nlist volume")(m)
    yield _diskpart(again, "step 3: delete the missing disk", "select disk m0\ndelete disk")(m)
    yield _diskpart(again, "step 4: delete setup's Windows partition",
                    "select disk 0\nlist partition\nselect partition 3\ndelete partition")(m)
    yield _diskpart(again, "step 5: convert disk 0 and mirror onto it", "convert dynamic\nlist volume\nselect volume 0\nadd disk=0")(m)
    m.wait()
    yield _diskpart(again, "step 6: the mirror is healthy", "list volume")(m)
    yield _bootcfg(again, "step 7: the boot entries", lambda _: "")(m)
    # The entries of the old disk 0: its plex's (its loader's ESP is gone) and the old Windows'.
    old_mirror = lambda m: next(e.id for e in m.nvram.entries()
                                if e.description == "Boot Mirror C: - secondary plex" and e.boot_file_path is None)
    yield _bootcfg(again, "step 7: the old plex's entry goes", lambda m: f"/delete /ID {old_mirror(m)}")(m)
    old_windows = lambda m: next(e.id for e in m.nvram.entries() if e.description == RECOVERY_WINDOWS_ENTRY)
    yield _bootcfg(again, "step 7: the old Windows' entry goes", lambda m: f"/delete /ID {old_windows(m)}")(m)


@contextmanager
def _copy_of(m: Machine) -> Iterator[Machine]:
    """The machine's folder copied (sparse images stay sparse) and opened; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bootmirror-copy-", dir=Path(m.folder).parent))
    try:
        subprocess.run(["cp", "-r", "--sparse=always", f"{m.folder}/.", str(folder)], check=True)
        copy = Machine.open(folder)
        try:
            yield copy
        finally:
            copy.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _boot_text(result: Optional[object]) -> str:
    if result is None:
        return "(this machine has no NVRAM)"
    lines = [result.console.rstrip()] if result.console else []  # type: ignore[attr-defined]
    lines += [f"  {step}" for step in result.steps]  # type: ignore[attr-defined]
    lines.append("Windows started." if result.ok else "Windows did not start.")  # type: ignore[attr-defined]
    return "\n".join(lines)


def _qemu_text(m: Machine, real: object) -> str:
    q = real.qemu  # type: ignore[attr-defined]
    lines = [f"BdsDxe: {a.outcome} Boot{a.option:04X} \"{a.description}\"{': ' + a.status if a.status else ''}" for a in q.attempts]
    for marker in q.markers:
        lines.append(f"loader {marker.tag} ran from partition {{{marker.partition_guid}}} ({marker.path})")
    place = real.loader_partition  # type: ignore[attr-defined]
    if place is not None:
        lines.append(f"that is disk {place.disk}'s partition {place.number}")
    lines.append(f"({q.seconds:.1f} s under QEMU)")
    return "\n".join(lines)

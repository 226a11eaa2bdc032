"""The main job behind ``make demo``: Microsoft KB 814070 rehearsed end to end on image files.

It builds the article's machine (:func:`bootmirror.scenarios.kb814070`) as sparse images in
``demo-out/kb814070``, runs the article's first part on it (prepare the shadow drive, convert,
mirror, bootcfg, clone, test-boot the shadow, also for real under QEMU with OVMF), then its
recovery section on the machine that section describes (``demo-out/kb814070-recovery``: a shadow
mirrored onto without an ESP, disk 0 dying, setup on a new disk, bootcfg /mirror /add, the mirror
re-established), printing every step's commands and answers as the article shows them. It ends
with a summary: the disks, the volumes, the boot entries, and what the outside tools
(sgdisk, ldmtool, fsck.fat, ntfsfix) and the real boots say.

    python -m bootmirror.demo [folder] [--no-qemu]
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Iterable, List

from . import __version__, outside_checks, scenarios
from .machine import Machine


def _print_steps(steps: Iterable[scenarios.Step]) -> List[scenarios.Step]:
    done = []
    section = None
    for step in steps:
        if step.section != section:
            section = step.section
            print(f"\n== {section} ==")
        print(f"\n-- {step.title}")
        if not step.transcript.lstrip().startswith("DISKPART>"):
            for command in step.commands:
                print(f"C:\\> {command}" if not command.startswith("(") else command)
        print(step.transcript.rstrip())
        done.append(step)
    return done


def _summary(name: str, m: Machine) -> bool:
    print(f"\n== Summary: {name} ==\n")
    for number, disk in m.disks.items():
        state = "missing" if disk is None else f"{disk.size:,} bytes, {disk.allocated_bytes:,} allocated"
        print(f"disk {number}: {state}")
    print(m.diskpart("list volume").split("\n", 2)[2].rstrip())
    print("boot entries: " + "; ".join(f"{e.id} {e.description}" for e in m.nvram.entries()))
    stale = m.nvram.stale()
    print(f"stale entries: {', '.join(s.description for s in stale) if stale else 'none'}")
    checks = outside_checks.run_checks(m)
    for check in checks:
        print(check)
    return all(c.ok for c in checks)


def main(argv: List[str]) -> int:
    """Rehearse KB 814070 in the folder argv names (default demo-out) and print each step's answer;
    returns the exit code (0 when every outside check passed)."""
    qemu = "--no-qemu" not in argv
    args = [a for a in argv if a != "--no-qemu"]
    out = Path(args[0] if args else "demo-out")
    first, second = out / "kb814070", out / "kb814070-recovery"
    for folder in (first, second):
        if folder.exists():
            shutil.rmtree(folder)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"bootmirror {__version__}: rehearsing KB 814070 in {out}/ ({'with' if qemu else 'without'} real boots under QEMU)")

    m = scenarios.kb814070(first, bootable=qemu)
    for number, disk in m.disks.items():
        print(f"  disk {number}: {disk.path}, {disk.size:,} bytes, {disk.allocated_bytes:,} bytes allocated")
    _print_steps(scenarios.kb814070_steps(m, qemu=qemu))
    ok = _summary("the mirrored machine", m)
    m.close()

    print("\n\n== The recovery section's machine: C: mirrored onto a shadow disk without an ESP ==")
    r = scenarios.kb814070_without_shadow_esp(second, bootable=qemu)
    _print_steps(scenarios.kb814070_recovery_steps(r, second / "disk0-new.img", qemu=qemu, bootable=qemu))
    ok = _summary("the recovered machine", r) and ok
    r.close()
    print(f"\n{'Every check passed' if ok else 'Some checks FAILED'} ({time.perf_counter() - started:.0f} s).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

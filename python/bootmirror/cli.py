r"""The ``bootmirror`` command line: Windows' tools and the machine's own verbs, on a machine folder.

    bootmirror machine new lab --kb814070          # the runbook's machine (or --disk 10GiB ...)
    bootmirror diskpart -m lab /s prepare.txt      # or interactive: bootmirror diskpart -m lab
    bootmirror format -m lab s: /fs:fat /q /y
    bootmirror xcopy -m lab p:\*.* s: /s /h
    bootmirror reboot -m lab                       # completes disk 0's conversion to dynamic
    bootmirror bootcfg -m lab /list 0
    bootmirror boot -m lab --entry "Boot Mirror C: - secondary plex Cloned_Entry"
    bootmirror serve -m lab --volume C: --socket c.sock   # nbd+unix:///?socket=c.sock, read-only

Every verb takes ``--json`` (one document on stdout, errors included, progress as JSON lines on
stderr; :mod:`bootmirror.cli_json` defines them) and exits with a code of its outcome: 0 done, 1 a
check found a problem or a command was refused, 2 usage, 3 bad on-disk data, 4 I/O, 130
interrupted. The shell's text and every value come from the engine; this module parses arguments
and prints.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

from . import Disk, Error, FormatError, UsageError, __version__, _core, cli_json, describe_size, gpt, ldm, parse_size

# A command pays only for what it runs: the machine, FAT, pathlib and typing are imported where
# used (a whole-process `disk show` spent more on imports than on its disk). A type checker takes
# any TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, Any, Callable, Dict, Iterable, List, NoReturn, Optional, Sequence, Tuple, Union

    from .cli_dry_run import DryRunMachine
    from .machine import Machine

    Progress = Callable[[int, int], object]

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as UsageError so that they reach --json and exit 2 like
    every other usage error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's own asks shutil.get_terminal_size for the width, importing shutil (and lzma
        # and bz2 with it) when the first option is added; this gives the same width from os.
        return self.formatter_class(prog=self.prog, width=_terminal_columns() - 2)  # type: ignore[call-arg]


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal of stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Run:
    """One command: its arguments, where it prints, and how it reports progress."""

    def __init__(self, args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        self.command: str = args.command_name
        self.stdout = stdout
        self.stderr = stderr
        # --dry-run: the machine a scratch copy (DryRunMachine), images overlays; finish() lists the writes.
        self.dry = bool(getattr(args, "dry_run", False))
        self.dry_machine: Optional[DryRunMachine] = None
        self._overlays: List[Tuple[str, Disk]] = []
        self.planned: List[Tuple[str, List[Tuple[int, int]]]] = []  # writes a verb names itself
        self._deferred: Dict[str, Any] = {}
        if self.dry and hasattr(args, "no_wait"):
            args.no_wait = True  # a scratch copy's mirror copies are held: nothing to wait for

    def print(self, text: str = "", end: str = "\n") -> None:
        """Text for people (never with --json)."""
        if not self.json:
            self.stdout.write(text + end)
            self.stdout.flush()

    def report(self, **values: Any) -> None:
        """The command's --json document (nothing without --json; under --dry-run, kept for
        :meth:`finish`)."""
        if self.dry:
            self._deferred = values
            return
        if self.json:
            cli_json.write(cli_json.document(self.command, **values), self.stdout)

    def progress(self, task: str, description: str) -> Tuple[Optional[Progress], Callable[[], None]]:
        """A progress callback and its finisher: JSON lines naming `task` on stderr with --json,
        a bar showing `description` when stderr is a terminal, else nothing."""
        from . import progress

        if self.json:
            lines = progress.JsonLines(task, self.stderr, cli_json.SCHEMA)
            return lines, lines.close
        if self.stderr.isatty():
            shown = progress.bar(description, file=self.stderr)
            return shown, shown.close
        return None, lambda: None

    def machine(self) -> Machine:
        """The machine of --machine, its copies held to --speed-limit where the verb has one; with
        --dry-run, a scratch copy of it (:class:`~bootmirror.cli_dry_run.DryRunMachine`)."""
        from .machine import Machine

        machine = Machine.open(self.args.machine)
        if self.dry and self.dry_machine is None:
            from .cli_dry_run import DryRunMachine

            self.dry_machine = DryRunMachine(machine)
            return self.dry_machine
        limit = getattr(self.args, "speed_limit", None)
        if limit is not None:
            machine.rebuild_speed_limit = parse_size(limit)
        return machine

    def image(self, path: str, writable: bool = False, sector_size: int = 512) -> Disk:
        """An image file a verb works on; under --dry-run, an overlay over it, read-only."""
        if not self.dry:
            return Disk.open(path, writable=writable, sector_size=sector_size)
        overlay = Disk.overlay(Disk.open(path, sector_size=sector_size))
        self._overlays.append((path, overlay))
        return overlay

    def finish(self, code: int) -> int:
        """After the verb: under --dry-run, what it would have written (printed, and in the JSON
        document with the verb's own values) and that nothing was."""
        if not self.dry:
            return code
        planned = list(self.dry_machine.planned or []) if self.dry_machine is not None else []
        for path, overlay in self._overlays:
            ranges = overlay.device.changed_extents(overlay.sector_size)
            if ranges:
                planned.append((str(path), ranges))
        planned += self.planned
        writes = [{"target": target, "ranges": [{"offset": o, "length": n} for o, n in ranges]}
                  for target, ranges in planned]
        values = {**self._deferred, "dry_run": True, "would_write": writes}
        self.dry = False  # the document goes out now
        self.report(**values)
        self.print("\n--dry-run: nothing was written. " + ("It would write:" if writes else "It would write nothing."))
        for w in writes:
            spans = ", ".join(f"{r['offset']:,}+{r['length']:,}" for r in w["ranges"])
            self.print(f"  {w['target']}" + (f": {spans}" if spans else ""))
        return code


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="write nothing: run on a scratch copy and list the byte ranges it would write, image by image")


def _refuse_ignored(**given: Any) -> None:
    """UsageError for options given where they would be ignored: name -> (value, why)."""
    for option, (value, why) in given.items():
        if value not in (None, False, []):
            raise UsageError(f"{option} would be ignored {why}")


def _command_line(words: Sequence[str]) -> str:
    """Arguments the shell split, joined again as Windows reads a command line: a word holding
    spaces is quoted (bootcfg's /D "Original Shadow drive", format's /v:"MY LABEL")."""
    out = []
    for word in words:
        if any(c.isspace() for c in word) and not word.startswith('"'):
            head, sep, tail = word.partition(":")
            word = f'{head}:"{tail}"' if sep and word.startswith("/") else f'"{word}"'
        out.append(word)
    return " ".join(out)


def _entry(text: Optional[str]) -> Optional[Union[int, str]]:
    """A boot entry as given: bootcfg's ID when it is a number, else a description."""
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


# -- waiting for the mirror copies -------------------------------------------------------------------

def _wait(run: _Run, machine: Machine, timeout: Optional[float] = None) -> bool:
    """Wait for the machine's mirror copies with a bar (or JSON lines); Ctrl-C stops the waiting
    and the caller's close stops the copy at a checkpoint, from which the next start resumes it."""
    report, finish = run.progress("rebuild", "Resynchronizing mirrors")
    try:
        return machine.wait(timeout=timeout, progress=report)
    finally:
        finish()


# -- machine ---------------------------------------------------------------------------------------------

def _disk_summary(machine: Machine, number: int, disk: Optional[Disk]) -> Dict[str, Any]:
    if disk is None:
        return {"number": number, "missing": True, "image": machine._m.image(number)}
    style = gpt.style(disk)
    return {
        "number": number, "missing": False, "image": disk.path, "size": disk.size,
        "sector_size": disk.sector_size, "allocated": disk.allocated_bytes, "style": style,
        "dynamic": machine.is_dynamic(number), "pending_conversion": machine.is_pending(number),
        "partitions": gpt.partitions(disk) if style == "gpt" else [],
    }


def _volume_summary(volume: "ldm.Volume") -> Dict[str, Any]:
    return {
        "index": volume.index, "name": volume.name, "letter": volume.letter, "layout": volume.layout,
        "type": volume.type, "size": volume.size_bytes, "status": volume.status, "fs": volume.fs,
        "label": volume.label,
        "plexes": [{"name": p.name, "disks": p.disks, "missing": p.missing, "problem": p.problem} for p in volume.plexes],
    }


def _machine_summary(machine: Machine) -> Dict[str, Any]:
    """What `machine show` reports, every value as the engine gives it."""
    disks = [_disk_summary(machine, number, disk) for number, disk in machine.disks.items()]
    out: Dict[str, Any] = {
        "folder": machine.folder,
        "oem_codepage": machine.oem_codepage,
        "disks": disks,
        "drive_letters": {f"{letter}:": {"disk": d, "partition": p} for letter, (d, p) in machine.drive_letters.items()},
        "dynamic_volumes": [_volume_summary(v) for v in machine.volumes],
        "rebuilds": _core.dynamic.rebuild_status(machine._m),
        "nvram": None,
    }
    if machine.has_nvram:
        out["nvram"] = {
            "path": machine.nvram.path,
            "boot_current": machine.nvram.boot_current,
            "timeout": machine.nvram.timeout,
            "entries": machine.nvram.entries(),
            "stale": machine.nvram.stale(),
            "running_system": machine.running_system,
        }
    return out


def _print_partition(run: _Run, p: gpt.Partition, indent: str) -> None:
    run.print(f"{indent}Partition {p.number}  {p.name or p.type_name:30}  offset {p.offset:>15,}  "
              f"{describe_size(p.size):>9}  type {p.type_guid}  unique {p.unique_guid}")


def _print_volume(run: _Run, v: Dict[str, Any], title: str) -> None:
    letter = f" {v['letter']}:" if v["letter"] else ""
    run.print(f"  {title} {v['index']}{letter} {v['name']}  {v['type']}  {describe_size(v['size'])}  {v['status']}")
    for p in v["plexes"]:
        run.print(f"    plex {p['name']} on {', '.join(p['disks'])}{'  ' + p['problem'] if p['problem'] else ''}")


def _print_machine(run: _Run, summary: Dict[str, Any]) -> None:
    run.print(f"Machine {summary['folder']}")
    for d in summary["disks"]:
        if d["missing"]:
            run.print(f"  Disk {d['number']}: missing (its image was {d['image']})")
            continue
        kind = "dynamic" if d["dynamic"] else "basic"
        if d["pending_conversion"]:
            kind += ", converts to dynamic at the next reboot"
        run.print(f"  Disk {d['number']}: {d['image']}  {describe_size(d['size'])}  {d['sector_size']}-byte sectors  "
                  f"{d['style'].upper()}  {kind}")
        for p in d["partitions"]:
            _print_partition(run, p, "    ")
    for letter, where in summary["drive_letters"].items():
        run.print(f"  {letter} is partition {where['partition']} of disk {where['disk']}")
    for v in summary["dynamic_volumes"]:
        _print_volume(run, v, "Dynamic volume")
    for r in summary["rebuilds"]:
        to = f"disk {r.disk}" if r.disk is not None else "a missing disk"
        run.print(f"  Rebuilding volume {r.volume} onto {to}: {describe_size(r.done)} of {describe_size(r.total)}")
    nvram = summary["nvram"]
    if nvram is None:
        run.print("  No NVRAM (machine new --nvram, or Machine.create_nvram)")
        return
    current = f"Boot{nvram['boot_current']:04X}" if nvram["boot_current"] is not None else "none"
    run.print(f"  NVRAM {nvram['path']}: {len(nvram['entries'])} boot entries, BootCurrent {current}")
    for s in nvram["stale"]:
        run.print(f"    stale: Boot{s.number:04X} \"{s.description}\": {s.reason}")


def _machine_new(run: _Run) -> int:
    from .machine import Machine

    a = run.args
    if run.dry:
        return _machine_new_dry(run)
    if a.kb814070:
        _refuse_ignored(**{"--disk": (a.disk, "with --kb814070: it makes its own two disks (--disk-size sets their size)"),
                           "--nvram": (a.nvram, "with --kb814070: its machine has NVRAM"),
                           "--sector-size": (a.sector_size, "with --kb814070: the article's offsets need 512-byte sectors")})
        from . import kb814070

        machine = kb814070.rehearsal_machine(a.folder, disk_size=a.disk_size or "10 GiB", bootable=not a.stand_in_loader)
    else:
        _refuse_ignored(**{"--disk-size": (a.disk_size, "without --kb814070 (use --disk SIZE)"),
                           "--stand-in-loader": (a.stand_in_loader, "without --kb814070")})
        def steps(machine: Machine) -> None:
            for size in a.disk or []:
                machine.create_disk(size, a.sector_size or 512)
            if a.nvram:
                machine.create_nvram()

        machine = Machine.build(a.folder, steps)
    with machine:
        summary = _machine_summary(machine)
    run.report(machine=summary)
    _print_machine(run, summary)
    return cli_json.OK


def _machine_new_dry(run: _Run) -> int:
    """machine new --dry-run: the machine is made in a private temporary folder, its files listed
    with the byte ranges written into them (their allocated extents), and the folder removed."""
    import shutil
    import tempfile
    from pathlib import Path

    a = run.args
    if (Path(a.folder) / "machine.json").exists():
        raise UsageError(f"{a.folder} already holds a machine; open it with Machine.open")
    scratch = Path(tempfile.mkdtemp(prefix="bootmirror-dry-run-"))
    try:
        args = argparse.Namespace(**{**vars(a), "folder": str(scratch / "machine"), "dry_run": False, "json": False})
        with open(os.devnull, "w") as quiet:
            _machine_new(_Run(args, quiet, run.stderr))
        for path in sorted((scratch / "machine").iterdir()):
            if path.name == "machine.lock":
                continue
            with open(path, "rb") as f:
                ranges = _file_extents(f.fileno(), path.stat().st_size)
            run.planned.append((str(Path(a.folder) / path.name) + " (new)", ranges))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run.report(folder=a.folder)
    run.print(f"Would make the machine {a.folder}.")
    return cli_json.OK


def _file_extents(fd: int, size: int) -> List[Tuple[int, int]]:
    """A file's data extents (SEEK_DATA/SEEK_HOLE): a sparse image's written bytes."""
    out, at = [], 0
    while at < size:
        try:
            start = os.lseek(fd, at, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end - start))
        at = end
    return out


def _machine_show(run: _Run) -> int:
    from .machine import Machine

    with Machine.open(run.args.folder) as machine:
        summary = _machine_summary(machine)
    run.report(machine=summary)
    _print_machine(run, summary)
    return cli_json.OK


def _lock_holder(folder: str) -> Optional[str]:
    """Who holds the machine folder's write lock (the holder the engine wrote into machine.lock),
    or None when nobody does."""
    from pathlib import Path

    import fcntl

    path = Path(folder) / "machine.lock"
    if not path.exists():
        return None
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().decode("utf-8", "replace").strip() or "another process"
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def _machine_close(run: _Run) -> int:
    """A shutdown: waits (up to --timeout) until no process holds the machine (a script or a
    notebook that still has it open), then reports the work its next start resumes."""
    from .machine import Machine

    a = run.args
    deadline = time.monotonic() + a.timeout
    holder = _lock_holder(a.folder)
    while holder is not None and time.monotonic() < deadline:
        time.sleep(0.1)
        holder = _lock_holder(a.folder)
    with Machine.open(a.folder) as machine:
        pending = [n for n in machine.disks if machine.disks[n] is not None and machine.is_pending(n)]
        rebuilds = _core.dynamic.rebuild_status(machine._m)
    run.report(folder=a.folder, held_by=holder, closed=holder is None, pending_conversions=pending,
               rebuilds_to_resume=rebuilds)
    if holder is not None:
        run.print(f"The machine in {a.folder} is still in use: {holder}")
        return cli_json.CHECK_FAILED
    run.print(f"The machine in {a.folder} is closed.")
    for n in pending:
        run.print(f"  Disk {n} converts to dynamic at the next reboot.")
    for r in rebuilds:
        run.print(f"  The copy onto volume {r.volume}'s new plex resumes at the next start "
                  f"({describe_size(r.done)} of {describe_size(r.total)} copied).")
    return cli_json.OK


# -- disk ------------------------------------------------------------------------------------------------

def _disk_target(run: _Run, writable: bool = False) -> Tuple[Optional[Machine], Disk, str]:
    """The disk a disk verb names: a disk number of --machine, or an image file."""
    a = run.args
    if a.machine is not None:
        if not a.disk.isdigit():
            raise UsageError(f"with --machine, the disk is a disk number, not {a.disk!r}")
        _refuse_ignored(**{"--sector-size": (a.sector_size, "with --machine: the machine records each disk's sector size")})
        machine = run.machine()
        return machine, machine.disk(int(a.disk)), f"disk {a.disk}"
    return None, run.image(a.disk, writable=writable, sector_size=a.sector_size or 512), a.disk


def _disk_create(run: _Run) -> int:
    a = run.args
    if run.dry:
        # A new sparse image: nothing is written into it, it only exists (and the machine records it).
        size = parse_size(a.args[-1])
        image = a.args[0] if a.machine is None and len(a.args) == 2 else f"a new image in {a.machine}"
        run.planned.append((f"{image} (new, {size:,} bytes, sparse)", []))
        if a.machine is not None:
            run.planned.append(("machine.json", []))
        run.report(image=image, size=size)
        run.print(f"Would create {image}: {size:,} bytes ({describe_size(size)}), sparse.")
        return cli_json.OK
    if a.machine is not None:
        if len(a.args) != 1:
            raise UsageError("disk create --machine FOLDER SIZE: one size")
        with run.machine() as machine:
            number = machine.create_disk(a.args[0], a.sector_size or 512)
            disk = machine.disk(number)
            path, size, sector_size, allocated = disk.path, disk.size, disk.sector_size, disk.allocated_bytes
    else:
        if len(a.args) != 2:
            raise UsageError("disk create IMAGE SIZE (or --machine FOLDER SIZE)")
        number = None
        with Disk.create(a.args[0], a.args[1], sector_size=a.sector_size or 512) as disk:
            path, size, sector_size, allocated = disk.path, disk.size, disk.sector_size, disk.allocated_bytes
    run.report(number=number, image=path, size=size, sector_size=sector_size, allocated=allocated)
    where = f"Disk {number}: " if number is not None else ""
    run.print(f"{where}created {path}: {size:,} bytes ({describe_size(size)}), {sector_size}-byte sectors, "
              f"{allocated:,} bytes allocated")
    return cli_json.OK


def _disk_show(run: _Run) -> int:
    machine, disk, name = _disk_target(run)
    try:
        style = gpt.style(disk)
        partitions = gpt.partitions(disk) if style == "gpt" else []
        dynamic = ldm.is_dynamic(disk)
        run.report(disk=name, image=disk.path, size=disk.size, sector_size=disk.sector_size,
                   allocated=disk.allocated_bytes, style=style, dynamic=dynamic, partitions=partitions)
        run.print(f"{name}: {disk.path}  {disk.size:,} bytes ({describe_size(disk.size)}), {disk.sector_size}-byte "
                  f"sectors, {disk.allocated_bytes:,} bytes allocated, {style.upper()}{', dynamic' if dynamic else ''}")
        for p in partitions:
            _print_partition(run, p, "  ")
    finally:
        (machine or disk).close()
    return cli_json.OK


def _disk_verify(run: _Run) -> int:
    machine, disk, name = _disk_target(run)
    try:
        style = gpt.style(disk)
        health = gpt.verify(disk)
        dynamic = ldm.is_dynamic(disk)
        ldm_health = ldm.verify(disk) if dynamic else None
    finally:
        (machine or disk).close()
    # An MBR or blank disk has no GPT to be damaged; a protective MBR without a table has.
    has_gpt = health.is_gpt or style == "gpt"
    clean = (health.clean or not has_gpt) and (ldm_health is None or ldm_health.clean)
    run.report(disk=name, clean=clean, style=style, gpt=health if has_gpt else None, ldm=ldm_health)
    if has_gpt:
        run.print(f"{name}: GPT {'clean' if health.clean else 'damaged'}")
        for problem in health.problems:
            run.print(f"  {problem}")
    else:
        run.print(f"{name}: no GPT ({style.upper()})")
    if ldm_health is not None:
        run.print(f"{name}: LDM database {'clean' if ldm_health.clean else 'damaged'}")
        for damage in ldm_health.damage:
            run.print(f"  {damage.structure} at byte {damage.offset:,}: {damage.problem}")
    return cli_json.OK if clean else cli_json.CHECK_FAILED


def _disk_repair(run: _Run) -> int:
    machine, disk, name = _disk_target(run, writable=True)
    try:
        rewritten = gpt.repair(disk, fix_grown=not run.args.keep_backup_place)
        health = gpt.verify(disk)
    finally:
        (machine or disk).close()
    run.report(disk=name, rewritten=rewritten, gpt=health)
    run.print(f"{name}: " + ("; ".join(rewritten) if rewritten else "nothing to repair"))
    return cli_json.OK if health.clean else cli_json.CHECK_FAILED


def _disk_fail(run: _Run) -> int:
    with run.machine() as machine:
        machine.fail_disk(run.args.number)
    run.report(disk=run.args.number, missing=True)
    run.print(f"Disk {run.args.number} has failed: it stays attached as a missing disk.")
    return cli_json.OK


def _disk_replace(run: _Run) -> int:
    from pathlib import Path

    a = run.args
    if (a.size is None) == (a.image is None):
        raise UsageError("disk replace: give the new disk as --size SIZE (a new image) or --image PATH")
    with run.machine() as machine:
        new: Union[Path, Disk]
        if a.size is not None:
            image = Path(machine.folder or a.machine) / f"disk{a.number}-replacement-{int(time.time())}.img"
            if run.dry:  # the new image is not made: a disk in memory stands for it
                new = Disk.memory(a.size, sector_size=a.sector_size or 512)
            else:
                Disk.create(image, a.size, sector_size=a.sector_size or 512).close()
                new = image
        else:
            image = Path(a.image)
            new = Disk.overlay(Disk.open(image, sector_size=a.sector_size or 512)) if run.dry else image
        try:
            missing = machine.replace_disk(a.number, new, a.sector_size or 512)
        except BaseException:
            if new is image and a.size is not None:  # the image this command made: a refusal leaves none
                image.unlink()
            raise
    run.report(disk=a.number, image=str(image), old_disk_now=missing)
    run.print(f"Disk {a.number} is now {image}; the old disk stays as missing disk number {missing}.")
    return cli_json.OK


def _disk_attach(run: _Run) -> int:
    with run.machine() as machine:
        # A dry run attaches an overlay over the image: the copy's writes to it stay in memory.
        image = Disk.overlay(Disk.open(run.args.image, sector_size=run.args.sector_size or 512)) if run.dry else run.args.image
        number = machine.attach(image, run.args.sector_size or 512)
    run.report(disk=number, image=run.args.image)
    run.print(f"Attached {run.args.image} as disk {number}.")
    return cli_json.OK


def _disk_reactivate(run: _Run) -> int:
    with run.machine() as machine:
        machine.reactivate(run.args.number)
        finished = run.args.no_wait or _wait(run, machine)
    run.report(disk=run.args.number, rebuilds_finished=bool(finished) and not run.args.no_wait)
    run.print(f"Disk {run.args.number} is online again.")
    return cli_json.OK


# -- diskpart --------------------------------------------------------------------------------------------

def _history_file() -> Path:
    from pathlib import Path

    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "bootmirror" / "diskpart_history"


def _script_text(path: str) -> str:
    """A diskpart script as Windows tools save one: UTF-16 with its byte order mark (Notepad's
    "Unicode"), UTF-8 with or without one, or else the ANSI code page (Windows-1252), which
    diskpart /s reads too; a script in none of them was a UnicodeDecodeError."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _read_lines(run: _Run, machine: Machine, interactive: bool) -> Iterable[str]:
    """The commands typed at the DISKPART> prompt (with line editing and a history kept between
    sessions on a terminal), or read from stdin."""
    from pathlib import Path

    if not interactive:
        yield from sys.stdin.read().splitlines()
        return
    history = None
    try:
        import readline

        history = _history_file()
        try:
            readline.read_history_file(history)
        except OSError:
            pass
    except ImportError:
        readline = None  # type: ignore[assignment]
    name = Path(machine.folder or "machine").name.upper()
    run.print(f"bootmirror DiskPart {__version__} (Windows Server 2003's diskpart)\n\nOn computer: {name}\n")
    try:
        while True:
            try:
                line = input("DISKPART> ")
            except EOFError:
                run.print()
                yield "exit"  # as Ctrl-Z at Windows' prompt: Windows' leaving text
                return
            yield line
    finally:
        if readline is not None and history is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.set_history_length(1000)
                readline.write_history_file(history)
            except OSError:
                pass


def _diskpart(run: _Run) -> int:
    a = run.args
    rest = list(a.rest)
    script = a.script
    while rest:
        word = rest.pop(0)
        if word.lower() in ("/s", "-s") and rest and script is None:
            script = rest.pop(0)
        else:
            raise UsageError(f"diskpart: unexpected argument {word!r} (diskpart takes /s SCRIPT)")
    machine = run.machine()
    results: List[Dict[str, Any]] = []
    status = cli_json.OK
    finished: Optional[bool] = None
    try:
        if script is not None:
            lines: Iterable[str] = _script_text(script).splitlines()
            echo = True
        else:
            interactive = sys.stdin.isatty() and not run.json
            lines = _read_lines(run, machine, interactive)
            echo = not interactive  # what a terminal would have shown as typed
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if echo:
                run.print(f"DISKPART> {line}\n")
            else:
                run.print()
            text, ok, leave = machine.diskpart_command(line)
            results.append({"command": line, "text": text, "ok": ok})
            if text:
                run.print(text + "\n")
            if leave:
                break
            # A script stops at its first failing command unless the command says NOERR, as
            # diskpart /s does; at the prompt, the next command is read.
            if not ok and script is not None and "noerr" not in line.lower().split():
                status = cli_json.CHECK_FAILED
                break
        if not a.no_wait:
            finished = _wait(run, machine)
    finally:
        machine.close()  # stops a copy left running (--no-wait) at a checkpoint
    run.report(commands=results, ok=status == cli_json.OK, rebuilds_finished=finished)
    return status


# -- Windows' other tools --------------------------------------------------------------------------

def _bootcfg(run: _Run) -> int:
    arguments = _command_line(run.args.arguments)
    with run.machine() as machine:
        text, ok = _core.bootcfg(machine._m, arguments)
        stale = machine.nvram.stale() if machine.has_nvram else []
        entries = machine.nvram.entries() if machine.has_nvram else []
    run.report(arguments=arguments, text=text, ok=ok, entries=entries, stale=stale)
    run.print(text, end="" if text.endswith("\n") else "\n")
    if run.args.check:
        for s in stale:
            run.print(f"Stale boot entry Boot{s.number:04X} \"{s.description}\": {s.reason}")
        if stale:
            return cli_json.CHECK_FAILED
    return cli_json.OK if ok else cli_json.CHECK_FAILED


def _format(run: _Run) -> int:
    a = run.args
    switches = _command_line(a.switches)
    if not _core.parse_format_switches(switches)["yes"]:
        # Windows asks before it formats a fixed disk; /y is the answer given in advance.
        if run.json:
            raise UsageError("format: without /y, format asks before it formats; --json takes no answers: add /y")
        drive = a.drive.rstrip(":").upper()
        run.print(f"WARNING, ALL DATA ON NON-REMOVABLE DISK\nDRIVE {drive}: WILL BE LOST!\nProceed with Format (Y/N)? ", end="")
        answer = sys.stdin.readline()
        if not sys.stdin.isatty():
            run.print(answer.rstrip("\n"))
        if answer.strip().lower() not in ("y", "yes"):
            return cli_json.CHECK_FAILED
    report, finish = run.progress("format", f"Formatting {a.drive}")
    try:
        with run.machine() as machine:
            text = machine.format(a.drive, switches, progress=report)
    finally:
        finish()
    run.report(drive=a.drive, switches=switches, text=text)
    run.print(text, end="")
    return cli_json.OK


def _xcopy(run: _Run) -> int:
    a = run.args
    switches = _command_line(a.switches)
    nothing = _core.parse_xcopy_switches("")
    for switch in a.switches:
        # A switch the engine accepts but that changes nothing would be silently ignored.
        if _core.parse_xcopy_switches(_command_line([switch])) == nothing:
            raise UsageError(f"xcopy: {switch} is accepted by Windows' xcopy but not carried out here "
                             "(it would be ignored); the switches carried out are /s, /e and /h")
    report, finish = run.progress("xcopy", f"Copying {a.source}")
    try:
        with run.machine() as machine:
            text = machine.xcopy(a.source, a.destination, switches, progress=report)
    finally:
        finish()
    run.report(source=a.source, destination=a.destination, switches=switches, text=text)
    run.print(text, end="")
    return cli_json.OK


# -- boots -------------------------------------------------------------------------------------------

def _print_boot(run: _Run, result: "_core.BootResult") -> None:
    run.print(result.console, end="" if result.console.endswith("\n") else "\n")
    if run.args.verbose:
        for step in result.steps:
            run.print(f"  {step}")


def _boot(run: _Run) -> int:
    a = run.args
    with run.machine() as machine:
        if a.qemu:
            qemu = machine.boot_qemu(_entry(a.entry), timeout=a.timeout if a.timeout is not None else 60.0)
            run.report(qemu_boot=qemu)
            for attempt in qemu.qemu.attempts:
                run.print(f"Boot{attempt.option:04X} {attempt.outcome}{': ' + attempt.status if attempt.status else ''}  "
                          f"{attempt.device_path}")
            for marker in qemu.qemu.markers:
                run.print(f"loader {marker.tag} ran from {marker.path}")
            if a.verbose:
                run.print(qemu.qemu.console)
            if qemu.entry is None:
                run.print("No boot option started." + (" (QEMU was stopped at the timeout)" if qemu.qemu.timed_out else ""))
            return cli_json.OK if qemu.entry is not None else cli_json.CHECK_FAILED
        _refuse_ignored(**{"--timeout": (a.timeout, "without --qemu")})
        result = machine.boot(_entry(a.entry))
    run.report(boot=result)
    _print_boot(run, result)
    return cli_json.OK if result.ok else cli_json.CHECK_FAILED


def _check(run: _Run) -> int:
    a = run.args
    with run.machine() as machine:
        report = machine.check_redundancy(qemu=a.qemu, timeout=a.timeout if a.timeout is not None else 60.0)
    run.report(**report.to_dict())
    run.print(str(report))
    if a.verbose:
        for d in report.disks:
            run.print(f"\ndisk {d.disk} alone:")
            for step in d.boot.steps:
                run.print(f"  {step}")
    return cli_json.OK if report.survives_loss_of_any_disk else cli_json.CHECK_FAILED


def _reboot(run: _Run) -> int:
    a = run.args
    with run.machine() as machine:
        result = machine.reboot(_entry(a.entry))
        finished = None if a.no_wait else _wait(run, machine)
    run.report(boot=result, rebuilds_finished=finished)
    if result is None:
        run.print("Restarted (the machine has no NVRAM: nothing was booted).")
        return cli_json.OK
    _print_boot(run, result)
    return cli_json.OK if result.ok else cli_json.CHECK_FAILED


# -- mirrors -------------------------------------------------------------------------------------------

def _resync(run: _Run) -> int:
    """machine.resync() in a thread while this one shows its progress; Ctrl-C closes the machine,
    which stops the copies at a checkpoint, and the resync returns."""
    import threading

    if run.dry:
        return _pending_copies(run, resync=True)

    machine = run.machine()
    outcome: Dict[str, BaseException] = {}

    def work() -> None:
        try:
            machine.resync()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = error

    thread = threading.Thread(target=work, name="bootmirror-resync", daemon=True)
    try:
        thread.start()
        report, finish = run.progress("rebuild", "Resynchronizing mirrors")
        try:
            while thread.is_alive():
                machine.wait(timeout=0.2, progress=report)
                thread.join(0.01)
        finally:
            finish()
    finally:
        machine.close()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    run.report(rebuilds_finished=True)
    run.print("Every mirror is resynchronized.")
    return cli_json.OK


def _pending_copies(run: _Run, resync: bool) -> int:
    """resync and wait under --dry-run: on the scratch copy (whose copies are held), resync's
    commit catch-up, then the ranges the mirror copies would write (they are not run)."""
    with run.machine() as machine:
        if resync:
            _core.dynamic.prepare_resync(machine._m)
        pending = _core.dynamic.pending_copy_ranges(machine._m)
        left = _core.dynamic.rebuild_status(machine._m)
    run.planned += [(f"disk {disk} (mirror copy)", list(ranges)) for disk, ranges in pending]
    run.report(rebuilds=left)
    run.print("No mirror copy would run." if not pending else
              "The mirror copies would write " + ", ".join(f"disk {d}" for d, _ in pending) + ".")
    return cli_json.OK


def _wait_verb(run: _Run) -> int:
    if run.dry:
        return _pending_copies(run, resync=False)
    with run.machine() as machine:
        finished = _wait(run, machine, run.args.timeout)
        left = _core.dynamic.rebuild_status(machine._m)
    run.report(rebuilds_finished=finished, rebuilds=left)
    if finished:
        run.print("No mirror copy is running." if not left else
                  "No mirror copy can go on: " + "; ".join(f"volume {r.volume} waits for its missing disk" for r in left))
        return cli_json.OK
    run.print(f"The copies are still running after {run.args.timeout:g} s.")
    return cli_json.CHECK_FAILED


def _verify(run: _Run) -> int:
    a = run.args
    results: List[Dict[str, Any]] = []
    with run.machine() as machine:
        names = a.volumes or [str(v.index) for v in machine.volumes]
        for which in names:
            volume = machine.dynamic_volume(which)
            entry: Dict[str, Any] = {"volume": volume.number, "status": volume.status, "plexes": volume.plexes}
            report, finish = run.progress("verify", f"Verifying volume {volume.number}")
            try:
                entry["report"] = volume.verify(progress=report)
                entry["identical"] = entry["report"].identical
            except UsageError as error:  # no plex can be read
                entry["report"], entry["identical"], entry["error"] = None, False, str(error)
            finally:
                finish()
            results.append(entry)
    good = all(r["identical"] for r in results)
    run.report(volumes=results, identical=good)
    for r in results:
        if r["report"] is None:
            run.print(f"Volume {r['volume']} ({r['status']}): {r['error']}")
        elif r["identical"]:
            plexes = ", ".join(r["report"].plexes)
            run.print(f"Volume {r['volume']} ({r['status']}): the plexes are identical ({plexes})")
        else:
            run.print(f"Volume {r['volume']} ({r['status']}): the plexes differ at "
                      + ", ".join(f"{offset:,} (+{length:,})" for offset, length in r["report"].mismatches))
    if not results:
        run.print("The machine has no dynamic volume.")
    return cli_json.OK if good else cli_json.CHECK_FAILED


# -- fat and ldm ---------------------------------------------------------------------------------------

def _fat_check(run: _Run) -> int:
    from . import fat

    a = run.args
    machine = run.machine() if a.machine is not None else None
    try:
        if a.drive is not None:
            if machine is None:
                raise UsageError("fat check DRIVE needs --machine (or give --image and --partition)")
            _refuse_ignored(**{"--disk": (a.disk, "with a drive letter"), "--partition": (a.partition, "with a drive letter"),
                               "--image": (a.image, "with a drive letter")})
            volume = machine.volume(a.drive)
            if not isinstance(volume, fat.Volume):
                raise UsageError(f"fat check: {a.drive} holds NTFS, not FAT")
            name = a.drive
        else:
            if a.partition is None:
                raise UsageError("fat check: name the volume by DRIVE, or by --partition N with --disk N or --image PATH")
            if machine is not None:
                _refuse_ignored(**{"--image": (a.image, "with --machine (use --disk N)")})
                if a.disk is None:
                    raise UsageError("fat check --machine: give DRIVE, or --disk N --partition N")
                disk = machine.disk(a.disk)
                codepage = machine.oem_codepage
                name = f"disk {a.disk} partition {a.partition}"
            else:
                _refuse_ignored(**{"--disk": (a.disk, "without --machine (use --image PATH)")})
                if a.image is None:
                    raise UsageError("fat check: give --image PATH (or --machine FOLDER --disk N)")
                disk = run.image(a.image, writable=a.repair)
                codepage = "cp437"
                name = f"{a.image} partition {a.partition}"
            parts = gpt.partitions(disk)
            if not 1 <= a.partition <= len(parts):
                raise UsageError(f"fat check: there is no partition {a.partition} ({len(parts)} partitions)")
            part = parts[a.partition - 1]
            volume = fat.open(disk.slice(part.offset, part.size), codepage=codepage)
        report = volume.check(repair=a.repair)
    finally:
        if machine is not None:
            machine.close()
    failed = [p for p in report.problems if not (a.repair and p.repaired)]
    run.report(volume=name, repair=a.repair, report=report, ok=not failed)
    run.print(f"{name}: {report.files} files, {report.directories} folders, "
              f"{report.used_clusters:,} of {report.cluster_count:,} clusters used: " + ("clean" if report.clean else
                                                                                      f"{len(report.problems)} problems"))
    for p in report.problems:
        mark = " (repaired)" if p.repaired else ""
        run.print(f"  {p.kind}: {p.path}: {p.message}{mark}")
    return cli_json.OK if not failed else cli_json.CHECK_FAILED


def _difference_rows(run: _Run, differences: "List[_core.FatTreeDifference]") -> List[Dict[str, str]]:
    """The differences of two ESPs as JSON rows, each printed as a line for people."""
    rows = [{"path": d.path, "change": d.change, "source": d.source_value, "target": d.target_value} for d in differences]
    for r in rows:
        run.print(f"{r['change']:<15} {r['path']}: {r['source'] or '-'} -> {r['target'] or '-'}")
    return rows


def _esp_diff(run: _Run) -> int:
    from . import fat

    a = run.args
    with run.machine() as machine:
        differences = fat.compare_trees(machine.esp(a.source), machine.esp(a.target))
    if not differences:
        run.print(f"The ESPs of disk {a.source} and disk {a.target} hold the same files.")
    rows = _difference_rows(run, differences)
    run.report(source_disk=a.source, target_disk=a.target, identical=not rows, differences=rows)
    return cli_json.OK if not rows else cli_json.CHECK_FAILED


def _esp_sync(run: _Run) -> int:
    from . import fat

    a = run.args
    with run.machine() as machine:
        # Under --dry-run the machine is a scratch copy: the sync runs on it, and finish() lists the
        # sectors it wrote there.
        changes = fat.sync_tree(machine.esp(a.source), machine.esp(a.target))
    if not changes:
        run.print(f"The ESP of disk {a.target} already holds the same files as disk {a.source}'s.")
    elif a.dry_run:
        run.print(f"Would change on disk {a.target}'s ESP (nothing written):")
    rows = _difference_rows(run, changes)
    run.report(source_disk=a.source, target_disk=a.target, dry_run=a.dry_run, changes=rows)
    return cli_json.OK


def _ldm_repair(run: _Run) -> int:
    with run.machine() as machine:
        repaired = machine.repair_ldm()
    run.report(repaired=[{"disk": disk, "reasons": reasons} for disk, reasons in repaired])
    if not repaired:
        run.print("Every disk's LDM database is clean and current: nothing to repair.")
    for disk, reasons in repaired:
        run.print(f"Disk {disk}: its LDM database " + ("would be" if run.dry else "was") + " rewritten from the group's:")
        for reason in reasons:
            run.print(f"  {reason}")
    return cli_json.OK


def _group_summary(group: "ldm.DiskGroup", numbers: Optional[List[int]]) -> Dict[str, Any]:
    return {
        "name": group.name, "guid": group.guid, "committed_seq": group.committed_seq,
        "disks": [{"name": d.name, "guid": d.guid, "present": d.present, "scheme": d.scheme,
                   "machine_number": numbers[d._r.device] if numbers is not None and d.present else None,
                   "image": d.disk.path if d.disk is not None else None}
                  for d in group.disks],
        "volumes": [_volume_summary(v) for v in group.volumes],
    }


def _ldm_show(run: _Run) -> int:
    a = run.args
    if a.machine is not None:
        _refuse_ignored(**{"IMAGE": (a.images, "with --machine: the machine's own disks are read")})
        with run.machine() as machine:
            group = machine.disk_group
            summary = _group_summary(group, group.machine_numbers) if group is not None else None
    else:
        if not a.images:
            raise UsageError("ldm show: give --machine FOLDER or the images of the group's disks")
        disks = [Disk.open(path) for path in a.images]
        try:
            group = ldm.read_group(disks)
            summary = _group_summary(group, None)
        finally:
            for d in disks:
                d.close()
    run.report(group=summary)
    if summary is None:
        run.print("No dynamic disk: the machine has no disk group.")
        return cli_json.OK
    run.print(f"Disk group {summary['name']} {{{summary['guid']}}}, sequence {summary['committed_seq']}")
    for d in summary["disks"]:
        where = d["image"] or "Missing"
        number = f" (disk {d['machine_number']})" if d["machine_number"] is not None else ""
        run.print(f"  {d['name']}{number}: {where}")
    for v in summary["volumes"]:
        _print_volume(run, v, "Volume")
    return cli_json.OK


# -- serving a volume over NBD ---------------------------------------------------------------------------

def _serve(run: _Run) -> int:
    """nbdkit in the foreground until Ctrl-C, its messages on our stderr when it has a descriptor."""
    from . import serve

    a = run.args
    try:
        run.stderr.fileno()
        log: Optional[IO[str]] = run.stderr
    except (AttributeError, OSError, ValueError):  # a StringIO (tests, notebooks): kept in server.log
        log = None
    with serve.serve(a.machine, a.volume, socket=a.socket, port=a.port, writable=a.writable, log=log) as server:
        run.report(uri=server.uri, volume=a.volume, size=server.size, writable=server.writable)
        mode = "read-write" if server.writable else "read-only"
        run.print(f"Serving volume {a.volume} ({describe_size(server.size)}, {mode}) at {server.uri}")
        run.print("Press Ctrl-C to stop.")
        try:
            status = _until_stopped(server)
        except KeyboardInterrupt:
            return cli_json.OK  # the way a server is stopped; leaving the with block stops nbdkit
    if status != 0:
        raise Error(f"nbdkit stopped with exit status {status}" + (f": {server.log.strip()}" if server.log else ""))
    return cli_json.OK


def _until_stopped(server: Any) -> int:
    """nbdkit's exit status; KeyboardInterrupt on Ctrl-C, and on SIGTERM too (a service manager's
    stop), so that both stop nbdkit and remove its socket instead of leaving them behind."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return int(server.wait())
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the parser ------------------------------------------------------------------------------------------

EPILOG = """\
exit codes: 0 done; 1 a check found a problem, a command was refused, a boot did not start or a wait
timed out; 2 usage (bad arguments, or a state that does not allow it); 3 bad on-disk data
(FormatError); 4 I/O (OSError); 130 interrupted (Ctrl-C: the machine stays consistent, and a mirror
copy resumes from its last checkpoint at the machine's next start).
--json: one document on stdout ({"schema": "bootmirror/1", "command": ...}), errors too
({"error": {"type", "message", "offset", "errno", "filename"}}); progress as JSON lines on stderr."""


# The parents are made once and shared: a parser copies its parents' options when it is made.
@functools.lru_cache(maxsize=None)
def _common() -> argparse.ArgumentParser:
    parent = _Parser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON document (schema bootmirror/1) instead of text")
    return parent


@functools.lru_cache(maxsize=None)
def _on_machine(required: bool = True) -> argparse.ArgumentParser:
    parent = _Parser(add_help=False, parents=[_common()])
    parent.add_argument("--machine", "-m", required=required, metavar="FOLDER",
                        help="the machine folder (made by 'bootmirror machine new')")
    return parent


class _Unbuilt:
    """The parser of a verb the command line does not name: every call on it does nothing.

    Making argparse's 60 parsers takes longer than the rest of a command like ``disk show``
    (each parser makes its formatter and has gettext look for message catalogs for each of its
    strings), so main() builds only the one it runs."""

    def __getattr__(self, name: str) -> Callable[..., "_Unbuilt"]:
        return lambda *args, **kw: self


_UNBUILT: Any = _Unbuilt()


def _named_verb(argv: Sequence[str]) -> Optional[Tuple[str, Optional[str]]]:
    """The verb and, for a group of verbs (disk, machine, ...), its action as argv names them;
    None when argv starts with an option (--help, --version): then every verb is built."""
    if not argv or argv[0].startswith("-"):
        return None
    action = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    return argv[0], action


def _speed_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed-limit", metavar="SIZE", default=None,
                        help="mirror copies run at most this many bytes a second (e.g. 50MiB; 0 holds them)")


def _sector_size(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--sector-size", type=int, choices=(512, 4096), default=None, help=f"{what} (default 512)")


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The argument parser of every verb (``bootmirror VERB --help`` shows each); given the
    command line, only the parser of the verb it names (all of them when it names none known, so
    that argparse's error lists them)."""
    named = None if argv is None else _named_verb(argv)
    parser, built = _build_parser(named)
    if named is None or built:
        return parser
    if named[1] is not None:  # an action the group does not have: build the group's every action
        parser, built = _build_parser((named[0], None))
        if built:
            return parser
    return _build_parser(None)[0]


def _build_parser(named: Optional[Tuple[str, Optional[str]]]) -> Tuple[argparse.ArgumentParser, bool]:
    """The parser of every verb, or (named) of the verb and action named only; and whether it
    built a verb named."""
    built = []

    def wanted(prefix: str, name: str, aliases: Sequence[str] = ()) -> bool:
        if named is None:
            return True
        if not prefix:
            return named[0] == name
        return named[0] == prefix and named[1] in (None, name, *aliases)

    def group_parser(name: str, **kw: Any) -> Any:
        if named is not None and named[0] != name:
            return _UNBUILT
        return verbs.add_parser(name, **kw)

    parser = _Parser(prog="bootmirror", description="Bootable disk images: GPT, FAT, NTFS, LDM mirrors, EFI NVRAM. "
                     "Windows' tools (diskpart, bootcfg, format, xcopy) and the machine's own verbs, on a machine folder.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bootmirror {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    def verb(name: str, help: str, parents: List[argparse.ArgumentParser], run: Callable[[_Run], int],
             description: Optional[str] = None, group: Optional[Tuple[str, Any]] = None, **kw: Any) -> Any:
        prefix, where = group if group is not None else ("", verbs)
        if not wanted(prefix, name, kw.get("aliases", ())):
            return _UNBUILT
        built.append(name)
        p = where.add_parser(name, help=help, description=description or help, parents=parents, epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter, **kw)
        p.set_defaults(run=run, command_name=f"{prefix} {name}".strip())
        return p

    # machine new|show|close
    machine = group_parser("machine", help="make, show or close a machine folder",
                               description="A machine folder: its disks by number, drive letters, disk group and NVRAM.")
    machine_verbs = machine.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    new = verb("new", "make a machine folder: blank disks (--disk), or the runbook's machine (--kb814070)",
               [_common()], _machine_new, group=("machine", machine_verbs), aliases=["create"],
               description="Make a machine folder. --disk SIZE (repeatable) adds blank sparse disks; --kb814070 "
                           "builds KB 814070's machine instead: disk 0 partitioned at the article's offsets with its "
                           "ESP files and Windows on C: (NTFS, PRIMARY), disk 1 raw, NVRAM with Windows' entry, "
                           "Windows started from it.")
    new.add_argument("folder")
    new.add_argument("--disk", action="append", metavar="SIZE", help="a new sparse disk of this size, e.g. 10GiB (repeatable)")
    _sector_size(new, "the sector size of the --disk disks")
    new.add_argument("--nvram", action="store_true", help="give the machine its firmware's NVRAM (Debian's OVMF variable store)")
    new.add_argument("--kb814070", action="store_true", help="the runbook's machine (see above)")
    new.add_argument("--disk-size", metavar="SIZE", help="--kb814070: the size of both disks (default 10GiB, sparse)")
    new.add_argument("--stand-in-loader", action="store_true",
                     help="--kb814070: a stand-in file instead of the GRUB marker loader that boots under QEMU")
    _dry_run(new)
    show = verb("show", "show a machine: disks, partitions, drive letters, dynamic volumes, rebuilds, NVRAM",
                [_common()], _machine_show, group=("machine", machine_verbs))
    show.add_argument("folder")
    close = verb("close", "shut a machine down: wait until no process holds it, and say what its next start resumes",
                 [_common()], _machine_close, group=("machine", machine_verbs),
                 description="Shut the machine down. Nothing runs between commands (a mirror copy stops at a "
                             "checkpoint when its command ends), so this waits, up to --timeout seconds, until no "
                             "other process (a script, a notebook) holds the machine's write lock, then reports what "
                             "its next start resumes. Exit 1 when it is still held.")
    close.add_argument("folder")
    close.add_argument("--timeout", type=float, default=0.0, help="seconds to wait for another process to let go (default 0)")

    # disk create|show|verify|repair|attach|fail|replace|reactivate
    disk = group_parser("disk", help="disks: create, show, verify or repair one; attach, fail, replace or reactivate a machine's",
                            description="Disks, of a machine (--machine FOLDER, disks by number) or image files.")
    disk_verbs = disk.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    create = verb("create", "create a sparse disk: --machine FOLDER SIZE adds disk N to a machine; IMAGE SIZE makes an image",
                  [_on_machine(required=False)], _disk_create, group=("disk", disk_verbs))
    create.add_argument("args", nargs="+", metavar="[IMAGE] SIZE", help="sizes: bytes, or 10GiB, 204MB (MB and GB are powers of 1024)")
    _sector_size(create, "sector size")
    _dry_run(create)
    for action, help, run_fn in (("show", "a disk's size, allocation, partition style and partitions", _disk_show),
                                 ("verify", "check a disk's GPT copies and protective MBR (and its LDM database when "
                                            "dynamic) without writing; exit 1 when damaged", _disk_verify),
                                 ("repair", "rewrite a damaged GPT copy from the good one (and move the backup to "
                                            "the end of a disk that grew); exit 1 when still damaged", _disk_repair)):
        p = verb(action, help, [_on_machine(required=False)], run_fn, group=("disk", disk_verbs))
        p.add_argument("disk", metavar="DISK", help="a disk number with --machine, else an image file")
        _sector_size(p, "an image file's sector size")
        if action == "repair":
            p.add_argument("--keep-backup-place", action="store_true",
                           help="leave the backup table where it is on a disk that grew")
            _dry_run(p)
    attach = verb("attach", "attach an image to a machine as its next disk number (a missing disk's own image brings it back)",
                  [_on_machine()], _disk_attach, group=("disk", disk_verbs))
    attach.add_argument("image")
    _sector_size(attach, "the image's sector size")
    _dry_run(attach)
    fail = verb("fail", "disk N dies: it stays attached as a missing disk (diskpart's M0), its mirrors go on from their other plexes",
                [_on_machine()], _disk_fail, group=("disk", disk_verbs))
    fail.add_argument("number", type=int)
    _dry_run(fail)
    replace = verb("replace", "put a new disk in disk N's slot (the old one stays as a missing disk until break and delete disk)",
                   [_on_machine()], _disk_replace, group=("disk", disk_verbs))
    replace.add_argument("number", type=int)
    replace.add_argument("--size", metavar="SIZE", help="a new blank sparse image of this size, in the machine folder")
    replace.add_argument("--image", metavar="PATH", help="an existing image")
    _sector_size(replace, "the new disk's sector size")
    _dry_run(replace)
    reactivate = verb("reactivate", "Windows' Reactivate Disk: reconnect disk N and copy back what its plexes missed",
                      [_on_machine()], _disk_reactivate, group=("disk", disk_verbs))
    reactivate.add_argument("number", type=int)
    reactivate.add_argument("--no-wait", action="store_true", help="do not wait for the copies (they resume at the next start)")
    _speed_limit(reactivate)
    _dry_run(reactivate)

    dp = verb("diskpart", "diskpart as in Windows Server 2003: a script with /s FILE, or the DISKPART> prompt",
              [_on_machine()], _diskpart,
              description="diskpart on the machine's disks. With /s FILE (or --script FILE) it echoes and runs each "
                          "line and stops at the first failing command unless the line says NOERR (exit 1). Without "
                          "a script it reads commands at the DISKPART> prompt (line editing and a history kept in "
                          "$XDG_STATE_HOME/bootmirror/diskpart_history on a terminal; EXIT or end of input leaves), or "
                          "from stdin when it is not a terminal. Mirrors added by add disk=N are copied in the "
                          "background; diskpart waits for them before it exits, with a progress bar, unless --no-wait.")
    dp.add_argument("--script", "-s", default=None, metavar="FILE", help="a script of diskpart commands, one a line")
    dp.add_argument("--no-wait", action="store_true",
                    help="exit without waiting for mirror copies; they resume at the machine's next start (reboot, resync, wait)")
    _speed_limit(dp)
    dp.add_argument("rest", nargs="*", help="/s FILE, as diskpart takes it")
    _dry_run(dp)

    bc = verb("bootcfg", "bootcfg as Windows Server 2003 runs it on EFI: the boot entries in the machine's NVRAM",
              [_on_machine()], _bootcfg,
              description="bootcfg ARGUMENTS: no arguments lists the boot entries; /list N, /clone /sg {GUID} /tg {GUID} "
                          "/d+ TEXT, /mirror /add {GUID} /D TEXT, /delete /ID N, /default /ID N, /timeout N, /raw. "
                          "Options of this command come before bootcfg's own arguments. Exit 1 when bootcfg printed "
                          "an ERROR (nothing is then written).")
    bc.add_argument("--check", action="store_true",
                    help="also list the stale entries (their ESP, loader or Windows is gone) and exit 1 when there is one")
    bc.add_argument("arguments", nargs="*", help="bootcfg's arguments, e.g. /list 0")
    _dry_run(bc)

    fm = verb("format", "format a drive letter as Windows' format does (FAT, FAT32, or NTFS with mkntfs)", [_on_machine()],
              _format, description="format DRIVE /fs:fat|fat32|ntfs [/q] [/v:LABEL] [/a:SIZE] [/y]. Without /y it asks "
                                   "'Proceed with Format (Y/N)?' as Windows does (a refusal exits 1; with --json, /y is "
                                   "required). A full format (no /q) shows its progress as a bar on a terminal; "
                                   "Ctrl-C before the first write leaves the volume as it was, after it a volume "
                                   "with no file system, as Windows leaves a cancelled format.")
    fm.add_argument("drive", help="s:")
    fm.add_argument("switches", nargs="*", help="/fs:fat /q /y ...")
    _dry_run(fm)

    xc = verb("xcopy", "copy files between drive letters as Windows' xcopy does", [_on_machine()], _xcopy,
              description="xcopy SOURCE DESTINATION [/s] [/e] [/h]: /s folders too, /e empty ones as well, /h hidden "
                          "and system files. Switches Windows' xcopy takes that are not carried out here (/y /i /q /f "
                          "/k) are refused rather than ignored. The copy shows its progress as a bar on a terminal; it is all "
                          "or nothing: a failure or Ctrl-C leaves the destination as it was.")
    xc.add_argument("source", help="p:\\*.*")
    xc.add_argument("destination", help="s:")
    xc.add_argument("switches", nargs="*", help="/s /h ...")
    _dry_run(xc)

    bt = verb("boot", "start the machine as its firmware would: BootNext, then BootOrder, or --entry as chosen in the boot menu",
              [_on_machine()], _boot,
              description="Boot the machine from its NVRAM, as the firmware does: prints the firmware's and Windows' "
                          "loader's text (LOADING.: ..., Load of ... failed: Not Found). With --qemu it boots for real: "
                          "the images and the NVRAM file under QEMU with OVMF (about 5 s). Exit 1 when nothing started.")
    bt.add_argument("--entry", metavar="ID|DESCRIPTION", help="a bootcfg ID or an entry's description (the boot menu's choice)")
    bt.add_argument("--qemu", action="store_true", help="boot under QEMU and OVMF (qemu-system-x86, ovmf)")
    bt.add_argument("--timeout", type=float, default=None, help="--qemu: seconds before QEMU is stopped (default 60)")
    bt.add_argument("--verbose", "-v", action="store_true", help="also print each step (the firmware's reasons) or QEMU's console")
    _dry_run(bt)

    ck = verb("check", "does every disk boot on its own? exit 1 when losing any one disk leaves the machine unbootable",
              [_on_machine()], _check,
              description="For each disk, pretend every other disk is gone and boot as the firmware and Windows' "
                          "loader would (the ESP by partition GUID and number, the loader file, the NVRAM entry, the "
                          "OS volume's plex, its NTFS and \\WINDOWS), on a scratch copy: nothing is written. Prints "
                          "a table (disk, ESP, loader, NVRAM entry, OS plex, alone, without it) and what to do about "
                          "each problem, ESPs that drifted from the one the machine boots from included. With --qemu "
                          "each disk also boots alone for real under QEMU with OVMF (its image read-only, a copy of "
                          "the NVRAM; about 5 s a disk), and the table says whether the check predicted it.")
    ck.add_argument("--qemu", action="store_true", help="also boot each disk alone under QEMU and OVMF (qemu-system-x86, ovmf)")
    ck.add_argument("--timeout", type=float, default=None, help="--qemu: seconds before each QEMU is stopped (default 60)")
    ck.add_argument("--verbose", "-v", action="store_true", help="also print each disk's boot, step by step")

    rb = verb("reboot", "restart: complete conversions to dynamic that wait for it, resume mirror copies, then boot",
              [_on_machine()], _reboot,
              description="Restart the machine: the firmware restores damaged GPT copies, Windows completes the "
                          "conversions to dynamic that wait for a restart and resumes interrupted mirror copies; "
                          "then the machine boots from its NVRAM (--entry: the boot menu's choice). Waits for the "
                          "copies unless --no-wait. Exit 1 when the boot did not start Windows.")
    rb.add_argument("--entry", metavar="ID|DESCRIPTION", help="a bootcfg ID or an entry's description")
    rb.add_argument("--no-wait", action="store_true", help="do not wait for mirror copies")
    rb.add_argument("--verbose", "-v", action="store_true", help="also print each step of the boot")
    _speed_limit(rb)
    _dry_run(rb)

    rs = verb("resync", "finish every interrupted mirror copy (an interrupted commit first) and wait for it",
              [_on_machine()], _resync)
    _speed_limit(rs)
    _dry_run(rs)
    wt = verb("wait", "wait for the machine's mirror copies, with a progress bar", [_on_machine()], _wait_verb,
              description="Wait for the mirror copies (add disk=N copies in the background; an interrupted one "
                          "resumes here). Exit 1 when --timeout passed first.")
    wt.add_argument("--timeout", type=float, default=None, help="seconds to wait at most")
    _speed_limit(wt)
    _dry_run(wt)
    vf = verb("verify", "compare the plexes of dynamic volumes (XXH3-128 region by region); exit 1 when they differ",
              [_on_machine()], _verify)
    vf.add_argument("volumes", nargs="*", metavar="VOLUME", help="a drive letter or dynamic volume number (default: all)")

    fat_parser = group_parser("fat", help="FAT volumes: check", description="FAT volumes.")
    fat_verbs = fat_parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    fc = verb("check", "check a FAT volume as fsck.fat -n does (--repair: as fsck.fat -a); exit 1 when problems remain",
              [_on_machine(required=False)], _fat_check, group=("fat", fat_verbs),
              description="Check a FAT volume: a machine's drive letter (--machine FOLDER DRIVE), a partition of a "
                          "machine's disk (--machine FOLDER --disk N --partition N: an ESP without a letter), or a "
                          "partition of an image (--image PATH --partition N).")
    fc.add_argument("drive", nargs="?", help="s:")
    fc.add_argument("--disk", type=int, help="a disk number of the machine")
    fc.add_argument("--image", help="an image file")
    fc.add_argument("--partition", type=int, help="the partition's number, as list partition shows it")
    fc.add_argument("--repair", action="store_true", help="repair what fsck.fat -a repairs")
    _dry_run(fc)

    esp_parser = group_parser("esp", help="EFI system partitions: compare or sync two disks'",
                                  description="EFI system partitions.")
    esp_verbs = esp_parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    ed = verb("diff", "compare the ESPs of two disks file by file; exit 1 when they differ", [_on_machine()], _esp_diff,
              group=("esp", esp_verbs),
              description="Compare the EFI system partitions of two of the machine's disks, file by file: names "
                          "without regard to case, sizes, contents (XXH3-128), attributes and modification times. "
                          "The runbook's xcopy makes the shadow's ESP once; this says whether it still matches.")
    ed.add_argument("--from", dest="source", type=int, required=True, metavar="DISK", help="the disk whose ESP is the reference (0)")
    ed.add_argument("--to", dest="target", type=int, required=True, metavar="DISK", help="the disk whose ESP is compared (1)")
    es = verb("sync", "make one disk's ESP an exact copy of another's (--dry-run: say what would change)",
              [_on_machine()], _esp_sync, group=("esp", esp_verbs),
              description="Make the EFI system partition of disk --to an exact copy of disk --from's, as robocopy "
                          "/MIR would: files the source lacks are removed, new and changed ones copied, attributes "
                          "and times set as the source's; the target keeps its volume serial, label and partition "
                          "GUID (its boot entries still match it). Each step is crash-safe on its own: a sync cut "
                          "short leaves each file as it was or as the source's, and running it again finishes it.")
    es.add_argument("--from", dest="source", type=int, required=True, metavar="DISK", help="the disk whose ESP is copied (0)")
    es.add_argument("--to", dest="target", type=int, required=True, metavar="DISK", help="the disk whose ESP is made equal (1)")
    _dry_run(es)

    ldm_parser = group_parser("ldm", help="dynamic disks: show the disk group", description="Windows' LDM dynamic disks.")
    ldm_verbs = ldm_parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    ls = verb("show", "show a disk group: its disks (missing ones too), volumes, plexes and their status",
              [_on_machine(required=False)], _ldm_show, group=("ldm", ldm_verbs))
    ls.add_argument("images", nargs="*", metavar="IMAGE", help="without --machine: the images of the group's disks")
    lr = verb("repair", "rewrite a disk's damaged or stale LDM database from the group's newest consistent copy",
              [_on_machine()], _ldm_repair, group=("ldm", ldm_verbs),
              description="For each disk of the machine's group whose own database is damaged (a copy of a PRIVHEAD "
                          "or TOCBLOCK, the VMDB or a VBLK) or behind the group (an older committed sequence, an "
                          "interrupted commit's leftovers), rewrite it whole from the newest consistent copy on the "
                          "other disks, in one crash-safe commit. Volumes' data is not touched. --dry-run lists the "
                          "disks, why, and the sectors it would write.")
    _dry_run(lr)

    sv = verb("serve", "serve a volume over NBD (nbdkit) for QEMU, qemu-img and nbdinfo, until Ctrl-C",
              [_on_machine()], _serve,
              description="Serve a volume's bytes over NBD with nbdkit's Python plugin (Debian's nbdkit and "
                          "nbdkit-plugin-python) and print its URI (nbd+unix:///?socket=PATH or "
                          "nbd://127.0.0.1:PORT): a basic volume's partition, or a dynamic volume read from a plex "
                          "in sync, so a mirror with a missing disk is served from the plex left. Read-only unless "
                          "--writable; then writes reach every plex of a mirror, and the machine folder's write "
                          "lock is held until the server stops. Runs until Ctrl-C, which stops it and exits 0; "
                          "with --json the document (uri, volume, size, writable) is printed once it serves.")
    sv.add_argument("--volume", required=True, metavar="VOLUME",
                    help="a drive letter (C:) or a volume's number as list volume shows it")
    listen = sv.add_mutually_exclusive_group()
    listen.add_argument("--socket", metavar="PATH", help="a Unix socket (default: one in a private temporary folder)")
    listen.add_argument("--port", type=int, metavar="N", help="a TCP port on 127.0.0.1 (loopback only: NBD has no password)")
    sv.add_argument("--writable", action="store_true", help="take writes (default: read-only)")
    return parser, bool(built)


def main(argv: Optional[List[str]] = None, stdout: Optional[IO[str]] = None, stderr: Optional[IO[str]] = None) -> int:
    """Run one command; returns its exit code (see the module's documentation)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    wants_json = "--json" in argv
    command: Optional[str] = None
    try:
        args = build_parser(argv).parse_args(argv)
        command = args.command_name
        run = _Run(args, out, err)
        return run.finish(args.run(run))
    except (Error, OSError, KeyboardInterrupt) as error:
        if wants_json:
            cli_json.write(cli_json.error_document(command, error), out)
        elif isinstance(error, KeyboardInterrupt):
            err.write("\nbootmirror: interrupted\n")
        else:
            where = f" (at byte {error.offset:,})" if isinstance(error, FormatError) and error.offset is not None else ""
            err.write(f"bootmirror: {error}{where}\n")
        return cli_json.error_exit_code(error)


if __name__ == "__main__":
    sys.exit(main())

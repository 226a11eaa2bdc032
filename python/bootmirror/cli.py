"""The ``bootmirror`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, List, Optional

from . import Disk, Error, Machine, UsageError, __version__, describe_size, parse_size


def _create(args: argparse.Namespace) -> int:
    with Disk.create(args.image, args.size, sector_size=args.sector_size) as disk:
        print(f"created {disk.path}: {disk.size:,} bytes ({describe_size(disk.size)}), "
              f"{disk.sector_size}-byte sectors, {disk.allocated_bytes:,} bytes allocated")
    return 0


def _info(args: argparse.Namespace) -> int:
    with Disk.open(args.image, sector_size=args.sector_size) as disk:
        print(f"{disk.path}: {disk.size:,} bytes ({describe_size(disk.size)}), "
              f"{disk.sector_size}-byte sectors, {disk.allocated_bytes:,} bytes allocated")
    return 0


def _diskpart_script(machine: "Machine", lines: Iterable[str]) -> int:
    """Echo and run each line as diskpart does; a script stops at its first failing command
    (unless the command says NOERR), with exit code 1."""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        print(f"DISKPART> {line}\n")
        text, ok, leave = machine.diskpart_command(line)
        if text:
            print(text + "\n")
        if leave:
            return 0
        if not ok and "noerr" not in line.lower().split():
            return 1
    return 0


def _interactive(machine: "Machine") -> int:
    print(f"bootmirror {__version__}: diskpart on {machine.folder}\n")
    while True:
        try:
            line = input("DISKPART> ")
        except EOFError:
            print()
            return 0
        if not line.strip():
            continue
        print()
        text, _ok, leave = machine.diskpart_command(line)
        if text:
            print(text + "\n")
        if leave:
            return 0


class _ProgressBar:
    """One line on a terminal, redrawn in place: the resynchronisation's progress."""

    WIDTH = 30

    def __init__(self, stream) -> None:
        self._stream = stream
        self._shown = ""

    def __call__(self, done: int, total: int) -> None:
        if not total:
            return
        filled = self.WIDTH * done // total
        line = (f"\rResynchronizing mirrors [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{100 * done // total:3d}%  {describe_size(done)} of {describe_size(total)}")
        if line != self._shown:
            self._stream.write(line)
            self._stream.flush()
            self._shown = line

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def _wait_for_rebuilds(machine: "Machine") -> int:
    """diskpart's mirrors are copied in the background; the command waits for them before it
    exits (Windows keeps copying after diskpart quits, but this process is the machine), with a
    progress bar on a terminal."""
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        machine.wait(progress=bar)
    finally:
        if bar is not None:
            bar.close()
    return 0


def _diskpart(args: argparse.Namespace) -> int:
    machine = Machine.open(args.machine)
    rest = list(args.rest)
    script = args.script
    wait = not args.no_wait
    while rest:
        word = rest.pop(0)
        if word.lower() in ("/s", "-s") and rest:
            script = rest.pop(0)
        elif word == "--no-wait":
            wait = False
        else:
            raise UsageError(f"diskpart: unexpected argument {word!r} (use /s SCRIPT)")
    try:
        if script is None:
            status = _interactive(machine)
        else:
            with open(script, encoding="utf-8-sig") as f:
                status = _diskpart_script(machine, f.read().splitlines())
        if wait:
            _wait_for_rebuilds(machine)
        return status
    finally:
        machine.close()  # stops a copy left running (--no-wait) at a checkpoint


def _machine(args: argparse.Namespace) -> int:
    if args.action == "create":
        machine = Machine.create(args.folder)
        for size in args.disk or []:
            number = machine.create_disk(size, args.sector_size)
            print(f"disk {number}: {machine.disks[number].path} ({describe_size(parse_size(size))})")
        return 0
    machine = Machine.open(args.folder)
    for image in args.image or []:
        number = machine.attach(image, args.sector_size)
        print(f"attached {image} as disk {number}")
    for number, disk in machine.disks.items():
        where = disk.path if disk is not None else "(missing)"
        size = describe_size(disk.size) if disk is not None else "-"
        print(f"disk {number}: {where} {size}")
    return 0


def _format(args: argparse.Namespace) -> int:
    machine = Machine.open(args.machine)
    print(machine.format(args.drive, " ".join(args.switches)), end="")
    return 0


def _xcopy(args: argparse.Namespace) -> int:
    machine = Machine.open(args.machine)
    print(machine.xcopy(args.source, args.destination, " ".join(args.switches)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bootmirror", description="Bootable disk images: GPT, FAT, LDM mirrors, EFI NVRAM.")
    parser.add_argument("--version", action="version", version=f"bootmirror {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="create a sparse raw disk image")
    create.add_argument("image")
    create.add_argument("size", help='bytes, or a size such as "10 GiB" (MB/GB are powers of 1024)')
    create.add_argument("--sector-size", type=int, default=512, choices=(512, 4096))
    create.set_defaults(run=_create)

    info = commands.add_parser("info", help="show an image's size and allocation")
    info.add_argument("image")
    info.add_argument("--sector-size", type=int, default=512, choices=(512, 4096))
    info.set_defaults(run=_info)

    diskpart = commands.add_parser(
        "diskpart", help="run diskpart on a machine folder: a script with /s FILE, else interactive",
        description="diskpart as Windows Server 2003 has it, on the disks of a machine folder.")
    diskpart.add_argument("--machine", required=True, help="the machine folder (see 'bootmirror machine')")
    diskpart.add_argument("--script", "-s", default=None, help="a script of diskpart commands, one a line")
    diskpart.add_argument("--no-wait", action="store_true",
                          help="exit without waiting for mirror resynchronisations; they resume where they "
                               "stopped the next time the machine is used (reboot, wait, or diskpart)")
    diskpart.add_argument("rest", nargs=argparse.REMAINDER, help="/s SCRIPT, as diskpart takes it")
    diskpart.set_defaults(run=_diskpart)

    machine = commands.add_parser("machine", help="create a machine folder or attach images to one")
    machine.add_argument("action", choices=("create", "show"))
    machine.add_argument("folder")
    machine.add_argument("--disk", action="append", help="create: a new sparse disk of this size (repeatable)")
    machine.add_argument("--image", action="append", help="show: attach this image first (repeatable)")
    machine.add_argument("--sector-size", type=int, default=512, choices=(512, 4096))
    machine.set_defaults(run=_machine)

    fmt = commands.add_parser("format", help="format a drive letter of a machine FAT or FAT32, as Windows' format",
                              description="format DRIVE: /fs:fat|fat32 [/q] [/y] [/v:LABEL] [/a:SIZE]")
    fmt.add_argument("--machine", required=True, help="the machine folder (letters come from diskpart's assign)")
    fmt.add_argument("drive", help="s:")
    fmt.add_argument("switches", nargs=argparse.REMAINDER, help="/fs:fat /q /y ...")
    fmt.set_defaults(run=_format)

    xcopy = commands.add_parser("xcopy", help="copy files between drive letters of a machine, as Windows' xcopy",
                                description="xcopy SOURCE DESTINATION [/s] [/e] [/h]")
    xcopy.add_argument("--machine", required=True, help="the machine folder")
    xcopy.add_argument("source", help="p:\\*.*")
    xcopy.add_argument("destination", help="s:")
    xcopy.add_argument("switches", nargs=argparse.REMAINDER, help="/s /h ...")
    xcopy.set_defaults(run=_xcopy)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (Error, OSError) as error:
        print(f"bootmirror: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

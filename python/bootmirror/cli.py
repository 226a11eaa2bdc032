"""The ``bootmirror`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import Disk, Error, __version__, describe_size


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

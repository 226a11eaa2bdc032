"""Helpers shared by the GPT tests: sgdisk's reports parsed, and loop devices for 4096-byte sectors
(sgdisk takes the sector size from the device; on a plain file it always assumes 512)."""

from __future__ import annotations

import contextlib
import re
from typing import Dict, Iterator

from conftest import run_tool


def sgdisk_info(device: str, number: int) -> Dict[str, object]:
    """`sgdisk -i N` as a dict: type, unique, first, last, attributes, name."""
    out = run_tool(["sgdisk", "-i", str(number), device]).stdout
    fields = {}
    for key, pattern in {
        "type": r"Partition GUID code: (\S+)",
        "unique": r"Partition unique GUID: (\S+)",
        "first": r"First sector: (\d+)",
        "last": r"Last sector: (\d+)",
        "attributes": r"Attribute flags: ([0-9A-Fa-f]+)",
        "name": r"Partition name: '(.*)'",
    }.items():
        match = re.search(pattern, out)
        assert match, f"sgdisk -i {number} printed no {key}:\n{out}"
        fields[key] = match.group(1)
    return {
        "type": fields["type"].lower(),
        "unique": fields["unique"].lower(),
        "first": int(fields["first"]),
        "last": int(fields["last"]),
        "attributes": int(fields["attributes"], 16),
        "name": fields["name"],
    }


def sgdisk_header(device: str) -> Dict[str, object]:
    out = run_tool(["sgdisk", "-p", device]).stdout
    return {
        "disk_guid": re.search(r"Disk identifier \(GUID\): (\S+)", out).group(1).lower(),
        "entries": int(re.search(r"Partition table holds up to (\d+) entries", out).group(1)),
        "first_usable": int(re.search(r"First usable sector is (\d+)", out).group(1)),
        "last_usable": int(re.search(r"last usable sector is (\d+)", out).group(1)),
        "sector_size": int(re.search(r"Sector size \(logical(?:/physical)?\): (\d+)", out).group(1)),
    }


def sgdisk_verify_clean(device: str) -> str:
    result = run_tool(["sgdisk", "-v", device], check=False)
    text = result.stdout + result.stderr
    assert result.returncode == 0 and "No problems found" in text, text
    return text


@contextlib.contextmanager
def loop_device(path, sector_size: int = 4096) -> Iterator[str]:
    """The image attached to a loop device with `sector_size`-byte logical sectors."""
    device = run_tool(["losetup", "--find", "--show", "--sector-size", str(sector_size), str(path)]).stdout.strip()
    try:
        yield device
    finally:
        run_tool(["losetup", "--detach", device])


def same_as_sgdisk(part, info: Dict[str, object]) -> None:
    """Our partition and sgdisk's report agree on every field."""
    assert part.type_guid == info["type"]
    assert part.unique_guid == info["unique"]
    assert part.first_lba == info["first"]
    assert part.last_lba == info["last"]
    assert part.attributes == info["attributes"]
    assert part.name == info["name"]

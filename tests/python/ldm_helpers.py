"""Helpers shared by the LDM tests: what ldmtool (libldm) shows of a set of disks, and the check
that it shows a group exactly as bootmirror reads it; for the damage tests, where each structure of
a disk's database lies, found independently of bootmirror's decoder (from the on-disk layout in
reference/ldm-on-disk.md of the test data folder), so that a test can damage exactly one field; and
the groups and images the tests start from."""

from __future__ import annotations

import hashlib
import json
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import bootmirror
from bootmirror import fat, ldm
from conftest import WINDOWS_IMAGES, data_file, run_tool

MiB = 1 << 20
S = 512

#: Kind byte (revision << 4 | kind) of each record type.
PARTITION, VOLUME, COMPONENT, DISK, DISK_GROUP = 0x33, 0x51, 0x32, 0x34, 0x35


@dataclass
class Layout:
    """Byte offsets on one disk: the PRIVHEAD copies, the config area, the TOCBLOCK copies, the
    VMDB and its slots."""

    privheads: List[int]
    config: int
    config_size: int  # bytes
    tocs: List[int]   # config+1, +2, end-3, end-2
    vmdb: int
    vblk_size: int
    first_slot: int
    last_slot: int


def privhead_lba(disk) -> int:
    mbr = disk.read(0, S)
    if mbr[0x1BE + 4] == 0x42:
        return 6
    # GPT: the LDM metadata partition's last LBA (libldm _read_privhead_gpt).
    header = disk.read(S, S)
    entries, count, size = struct.unpack_from("<QII", header, 72)
    table = disk.read(entries * S, count * size)
    for i in range(count):
        entry = table[i * size:(i + 1) * size]
        if entry[:16] == bytes.fromhex("AAC808588F7EE04285D2E1E90434CFB3"):
            return struct.unpack_from("<Q", entry, 40)[0]
    raise AssertionError("no LDM metadata partition")


def layout(disk) -> Layout:
    lba = privhead_lba(disk)
    ph = disk.read(lba * S, S)
    assert ph[:8] == b"PRIVHEAD"
    config_lba, config_sectors = struct.unpack_from(">QQ", ph, 0x12B)
    config = config_lba * S
    toc = disk.read(config + 2 * S, S)
    vmdb = config + struct.unpack_from(">Q", toc, 0x2E)[0] * S
    head = disk.read(vmdb, S)
    last, vblk_size, first = struct.unpack_from(">III", head, 4)
    privheads = sorted({lba * S, config + 1856 * S, config + 2047 * S})
    tocs = [config + s * S for s in (1, 2, config_sectors - 3, config_sectors - 2)]
    return Layout(privheads, config, config_sectors * S, tocs, vmdb, vblk_size, first // vblk_size, last)


def _var(buf: bytes, at: int):
    n = buf[at]
    return int.from_bytes(buf[at + 1:at + 1 + n], "big"), at + 1 + n


@dataclass
class Record:
    slot: int      # byte offset of the slot on the disk
    kind: int
    name: bytes
    fields: Dict[str, int]  # field name -> byte offset on the disk


def records(disk) -> List[Record]:
    """Every single-slot record of the database (bootmirror and Windows keep most records in one
    slot), with the disk offsets of the fields the tests damage."""
    lay = layout(disk)
    out = []
    for n in range(lay.first_slot, lay.last_slot):
        at = lay.vmdb + n * lay.vblk_size
        slot = disk.read(at, lay.vblk_size)
        if slot[:4] != b"VBLK" or struct.unpack_from(">H", slot, 14)[0] != 1:
            continue
        kind = slot[0x13]
        _, p = _var(slot, 0x18)
        name_at = p
        name = slot[p + 1:p + 1 + slot[p]]
        p += 1 + slot[p]
        fields = {"size field": at + 0x14, "name": at + name_at + 1}
        if kind == PARTITION:
            p += 4 + 8
            fields["start"] = at + p
            p += 16
            fields["size"] = at + p
        elif kind == VOLUME:
            _, p = _var(slot, p)   # type
            _, p = _var(slot, p)   # unknown string
            p += 14 + 3 + 3 + 1
            fields["component count"] = at + p
            _, p = _var(slot, p)
            p += 16
            fields["size"] = at + p
        elif kind == COMPONENT:
            _, p = _var(slot, p)   # state
            p += 1 + 4
            fields["partition count"] = at + p
            _, p = _var(slot, p)
            p += 8 + 8             # commit id, zeros
            _, p = _var(slot, p)   # parent volume id
            p += 1
            if slot[0x12] & 0x10:  # a stripe: chunk size (sectors), columns
                fields["chunk"] = at + p
        out.append(Record(at, kind, name, fields))
    return out


def record(disk, name: bytes) -> Record:
    found = [r for r in records(disk) if r.name == name]
    assert len(found) == 1, (name, [r.name for r in records(disk)])
    return found[0]


def set_var_int(disk, offset: int, value: int) -> None:
    """Overwrite a var int keeping its length byte (so the record's size stays right)."""
    n = disk.read(offset, 1)[0]
    disk.write(offset + 1, value.to_bytes(n, "big"))


def explore(group: ldm.DiskGroup, guard=lambda read: read()) -> None:
    """Reads every property a user may touch. Each read goes through `guard` (the mutation test
    lets bootmirror errors pass there and goes on); by default every error escapes."""
    def each(obj, names):
        for name in names:
            guard(lambda: getattr(obj, name))
        guard(lambda: repr(obj))

    each(group, ("name", "name_bytes", "guid", "committed_seq"))
    guard(group._repr_html_)
    for d in guard(lambda: group.disks) or []:
        each(d, ("name", "name_bytes", "guid", "present", "disk", "data_start", "data_size", "scheme"))
        guard(d.free_extents)
    for v in guard(lambda: group.volumes) or []:
        each(v, ("name", "name_bytes", "guid", "status", "size_bytes", "fs", "label", "letter", "type", "state", "drive_hint"))
        guard(v.device)
        for plex in guard(lambda: v.plexes) or []:
            each(plex, ("name", "name_bytes", "problem", "usable", "missing", "disks"))
        for p in guard(lambda: v.partitions) or []:
            each(p, ("name", "name_bytes", "offset", "disk", "start", "size"))


def digest(disks) -> List[str]:
    return [hashlib.sha256(d.read(0, d.size)).hexdigest() for d in disks]


def two_disk_group(sector_size: int = 512):
    """Two 8 MiB memory disks holding a mirror (Volume1, C:) and a simple volume (Volume2)."""
    disks = [bootmirror.Disk.memory(8 * MiB * (sector_size // 512), sector_size) for _ in range(2)]
    group = ldm.DiskGroup.create("WIN-TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 4096), (b, 0, 4096)], drive_hint="C:")
    group.create_volume("Volume2", "simple", [(a, 4096, 2048)], drive_hint="D:")
    group.commit()
    return group, disks


def gpt_dynamic_disk(size: int = 160 * MiB):
    """A GPT disk as Windows leaves one after "convert dynamic": ESP, LDM metadata carved from the
    MSR, and the basic data partition retyped to LDM data (a simple volume)."""
    disk = bootmirror.Disk.memory(size)
    disk.convert_gpt()
    disk.create_partition("primary", "16 MiB")
    group = ldm.convert_dynamic(disk, name="WIN-GPT-Dg0")
    return group, disk


def unpack_windows(out: Path, names: Optional[List[str]] = None, prefix: str = "") -> List[Path]:
    """The Windows images (all 19, or `names`, or those whose names start with `prefix`) unpacked
    into `out`; the test fails, naming the file, when the test data is missing."""
    with tarfile.open(data_file(WINDOWS_IMAGES)) as tar:
        members = [m for m in tar.getmembers() if (names is None or m.name in names) and m.name.startswith(prefix)]
        tar.extractall(out, members=members)
    return sorted(out / m.name for m in members)


# The runbook's two GPT disks before "convert dynamic": disk 0 with its ESP, MSR and Windows
# partition, disk 1 (the shadow) with ESP and MSR.
SEED_SETUP = """
select disk 0
convert gpt
create partition efi size=204
create partition msr size=32
create partition primary
select disk 1
convert gpt
create partition efi size=204
create partition msr size=32
"""

# The seed's disks with C: on the Windows partition, both converted (disk 0 after the reboot).
BOOT_VOLUME_C_BOTH_DYNAMIC = SEED_SETUP.replace("create partition primary\n", "create partition primary\nassign letter=c\n") + """
select disk 1
convert dynamic
select disk 0
convert dynamic
"""


LOADER = "\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi"


def start_windows(m, disk=0, description="Windows Server 2003, Enterprise"):
    """Windows as started on `m` from basic disk `disk`: its ESP formatted FAT with the loader
    file, the firmware's NVRAM with a Windows entry for it and for the disk's (last) basic data
    partition, and a boot from that entry. list volume's System and Boot, and the boot entries
    diskpart keeps for the boot volume, come from it."""
    parts = m.disk(disk).partitions
    part = next(p for p in parts if p.kind == "efi")
    esp = (disk, part.number)
    os = (disk, [p for p in parts if p.kind == "basic"][-1].number)
    volume = m.disk(disk).slice(part.offset, part.size)
    fat.format(volume, "FAT")
    with fat.open(volume) as v:
        v.makedirs("EFI/Microsoft/WINNT50")
        v.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"a stand-in for Windows' loader")
    m.create_nvram()
    m.add_windows_entry(description, esp=esp, os=os, loader_path=LOADER)
    return m.boot()


def dynamic_boot_machine(folder, size="340 MiB", windows=False):
    """The runbook's machine just before "add disk=1", kept in `folder`: two disks of `size`,
    both dynamic after the reboot, C: a simple volume on disk 0. With `windows`, Windows was
    started from disk 0 first (:func:`start_windows`): C: is the running Windows' volume."""
    m = bootmirror.Machine.create(folder)
    m.create_disk(size)
    m.create_disk(size)
    basic, convert = BOOT_VOLUME_C_BOTH_DYNAMIC.split("select disk 1\nconvert dynamic")
    m.diskpart(basic, check=True)
    if windows:
        assert start_windows(m).entry is not None
    m.diskpart("select disk 1\nconvert dynamic" + convert, check=True)
    m.reboot()
    return m


# -- ldmtool's view ---------------------------------------------------------------------------------
def show(paths, *args):
    devs = [a for p in paths for a in ("-d", str(p))]
    return json.loads(run_tool(["ldmtool", *devs, "show", *args]).stdout)


def scan(paths):
    result = run_tool(["ldmtool", "scan", *map(str, paths)])
    assert "Error" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def assert_ldmtool_sees(group: ldm.DiskGroup, paths):
    """Every object of `group` as ldmtool shows it."""
    assert scan(paths) == [group.guid]
    dg = show(paths, "diskgroup", group.guid)
    assert dg["name"] == group.name
    assert sorted(dg["volumes"]) == sorted(v.name for v in group.volumes)
    assert sorted(dg["disks"]) == sorted(d.name for d in group.disks)
    for v in group.volumes:
        want = show(paths, "volume", group.guid, v.name)
        layout = {"raid5": "RAID5"}.get(v.layout, v.layout)  # ldmtool's spelling
        assert (want["guid"], want["type"], want["size"], want.get("hint")) == (v.guid, layout, v.size, v.drive_hint)
        assert want["partitions"] == [p.name for p in v.partitions]
        for p in v.partitions:
            assert show(paths, "partition", group.guid, p.name) == {
                "name": p.name, "start": p.start, "size": p.size, "disk": p.disk.name}
    for d in group.disks:
        wd = show(paths, "disk", group.guid, d.name)
        assert (wd["name"], wd["guid"], wd["present"]) == (d.name, d.guid, d.present)
        if d.present:
            assert (wd["data-start"], wd["data-size"], wd["metadata-start"], wd["metadata-size"]) == (
                d.data_start, d.data_size, d.config_start, d.config_size)

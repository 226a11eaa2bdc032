#!/usr/bin/env python3
"""Regenerates the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

The seeds are small files cut from disks made three ways: by the engine itself (through
bootmirror's Python API, with fixed identities so the bytes repeat), by outside tools (sgdisk,
mkfs.fat, mtools) and by Windows (the 19 images of the test data folder, which
tests/python/conftest.py finds for this script as for the tests, unpacked into a temporary folder,
never into the repository). Only the metadata is kept: a seed is a structure (a PRIVHEAD sector, a
VBLK area) or a sparse image of the sectors that hold something (the format of
tests/fuzz/support/sparse_image.h). The files are committed, so fuzzing needs none of these tools;
`make fuzz-corpus` runs this script after `make build`.

Each target's folder is emptied and written again; file names say where a seed came from.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import pytest

import bootmirror
from bootmirror import _core, fat

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
sys.path.insert(0, str(HERE.parent / "python"))
from conftest import WINDOWS_IMAGES, data_file  # noqa: E402  (the tests' one way to the test data)

MiB = 1 << 20
SPARSE_LIMIT = 256 * MiB  # the largest disk a sparse image describes (kMaxSparseDiskBytes)


# -- sparse images (support/sparse_image.h) -----------------------------------------------------

class Source:
    """A disk to cut seeds from: a block device of the engine (an image file or a disk in memory)."""

    def __init__(self, device: _core.BlockDevice) -> None:
        self.device = device
        self.size, self.sector_size = device.size, device.sector_size

    @classmethod
    def of(cls, disk: bootmirror.Disk) -> "Source":
        return cls(disk.device)

    @classmethod
    def file(cls, path: Path) -> "Source":
        return cls(_core.ImageFile.open(str(path)))

    def read(self, offset: int, length: int) -> bytes:
        return self.device.read(offset, length)

    @property
    def sectors(self) -> int:
        return self.size // self.sector_size


def nonzero_runs(source: Source, first: int, end: int) -> Iterable[Tuple[int, bytes]]:
    """(first sector, bytes) of each run of sectors in [first, end) that are not all zero."""
    ss = source.sector_size
    end = min(end, source.sectors)
    step = 2048
    run_start, run = None, bytearray()
    for base in range(max(first, 0), end, step):
        chunk = source.read(base * ss, (min(base + step, end) - base) * ss)
        for i in range(len(chunk) // ss):
            sector = chunk[i * ss:(i + 1) * ss]
            if sector.count(0) != ss:
                if run_start is None:
                    run_start = base + i
                run += sector
                if len(run) // ss == 0xFFFF:
                    yield run_start, bytes(run)
                    run_start, run = None, bytearray()
            elif run_start is not None:
                yield run_start, bytes(run)
                run_start, run = None, bytearray()
    if run_start is not None:
        yield run_start, bytes(run)


def sparse_image(disks: Sequence[Source], windows: Sequence[Sequence[Tuple[int, int]]] = ()) -> bytes:
    """The sparse-image encoding of up to three disks: for each, the non-zero sectors of its
    `windows` (sector ranges [first, end); the whole disk when none are given)."""
    assert 1 <= len(disks) <= 3 and len({d.sector_size for d in disks}) == 1
    out = bytearray([(1 if disks[0].sector_size == 4096 else 0) | (len(disks) - 1) << 1])
    for d in disks:
        assert d.size <= SPARSE_LIMIT, "a sparse image describes disks of 256 MiB at most"
        out += struct.pack("<I", d.sectors)
    for index, d in enumerate(disks):
        ranges = windows[index] if windows else [(0, d.sectors)]
        for first, end in ranges:
            for start, data in nonzero_runs(d, first, end):
                out += struct.pack("<BIH", index, start, len(data) // d.sector_size) + data
    return bytes(out)


def edges(source: Source, head: int = 64, tail: int = 64) -> List[Tuple[int, int]]:
    """The first and last sectors of a disk, where partition tables live."""
    n = source.sectors
    return [(0, min(head, n)), (max(n - tail, head), n)]


# -- output -------------------------------------------------------------------------------------

class Corpus:
    def __init__(self) -> None:
        self.seeds: Dict[str, Dict[str, bytes]] = {}

    def add(self, target: str, name: str, data: bytes) -> None:
        seeds = self.seeds.setdefault(target, {})
        if data in seeds.values():
            return  # the same bytes from another origin add nothing
        assert name not in seeds, f"{target}/{name} twice"
        seeds[name] = data

    def write(self) -> None:
        total = 0
        for target, seeds in sorted(self.seeds.items()):
            folder = CORPUS / target
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name, data in sorted(seeds.items()):
                (folder / name).write_bytes(data)
            size = sum(len(d) for d in seeds.values())
            total += size
            print(f"{target:16} {len(seeds):4} seeds {size / 1024:9.1f} KiB")
        print(f"{'total':16} {sum(len(s) for s in self.seeds.values()):4} seeds {total / 1024:9.1f} KiB")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    exe = (shutil.which(args[0]) or shutil.which(args[0], path="/usr/sbin:/sbin:/usr/bin")
           or shutil.which(args[0], path=sysconfig.get_path("scripts")))
    if exe is None:
        sys.exit(f"make_corpus: outside tool '{args[0]}' is not installed (make test installs it)")
    return subprocess.run([exe, *args[1:]], check=True, capture_output=True, **kwargs)


# -- GPT and LBA 0 ------------------------------------------------------------------------------

def diskpart(disks: Sequence[bootmirror.Disk], script: str) -> bootmirror.Machine:
    machine = bootmirror.Machine()
    for d in disks:
        machine.attach(d)
    machine.diskpart(script, check=True)
    return machine


def engine_gpt_disks() -> Iterable[Tuple[str, bootmirror.Disk]]:
    """GPT disks as diskpart on Windows Server 2003 makes them, on both sector sizes."""
    for ss in (512, 4096):
        blank = bootmirror.Disk.memory(128 * MiB, ss)
        diskpart([blank], "select disk 0\nconvert gpt")
        yield f"engine-msr-only-{ss}", blank
        disk = bootmirror.Disk.memory(160 * MiB, ss)
        diskpart([disk], "select disk 0\nconvert gpt\ncreate partition efi size=8\n"
                         "create partition primary size=16\ncreate partition primary")
        yield f"engine-esp-msr-data-{ss}", disk


def sgdisk_gpt_disks(work: Path) -> Iterable[Tuple[str, Source]]:
    """GPT disks made by sgdisk: other entry counts, names, attributes, a hybrid MBR."""
    layouts = {
        "sgdisk-basic": ["-o", "-n", "1:2048:+1M", "-t", "1:ef00", "-c", "1:EFI system partition",
                         "-n", "2:0:+2M", "-t", "2:0700", "-c", "2:Basic data partition", "-A", "2:set:63"],
        "sgdisk-256-entries": ["-o", "-S", "256", "-n", "1:2048:+1M", "-t", "1:8300", "-n", "2:0:0", "-t", "2:8200"],
        "sgdisk-unaligned": ["-o", "-a", "1", "-n", "1:34:100", "-n", "2:101:4000", "-t", "2:4201"],
        "sgdisk-hybrid": ["-o", "-n", "1:2048:+1M", "-t", "1:0700", "-n", "2:0:+1M", "-t", "2:8300", "-h", "1:2"],
    }
    for name, args in layouts.items():
        image = work / f"{name}.img"
        image.unlink(missing_ok=True)
        with open(image, "wb") as f:
            f.truncate(8 * MiB)
        # Fixed GUIDs (the disk's and each partition's) keep the seeds the same from run to run.
        guids = [f"-u{n}:12345678-1234-1234-1234-12345678900{n}" for n in (1, 2)]
        run("sgdisk", *args, "-U", "12345678-1234-1234-1234-123456789abc", *guids, str(image))
        yield name, Source.file(image)


def mbr_sector(records: Sequence[Tuple[int, int, int]], boot_code: bytes = b"") -> bytes:
    """LBA 0 with partition records (type, first LBA, sectors) and the 55 AA signature."""
    sector = bytearray(512)
    sector[:len(boot_code)] = boot_code
    for i, (kind, first, count) in enumerate(records):
        struct.pack_into("<BBBBBBBBII", sector, 446 + 16 * i, 0, 0, 2, 0, kind, 0xFE, 0xFF, 0xFF, first, count)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def gpt_seeds(corpus: Corpus, work: Path) -> None:
    for name, disk in engine_gpt_disks():
        src = Source.of(disk)
        corpus.add("gpt", f"{name}.bin", sparse_image([src], [edges(src)]))
        corpus.add("protective_mbr", f"{name}.bin", src.read(0, 512))
        # The same table damaged: each copy lost in turn, and the disk grown past the backup.
        head, tail = edges(src)
        damaged = bootmirror.Disk.memory(src.size, src.sector_size)
        for first, data in nonzero_runs(src, 0, src.sectors):
            damaged.write(first * src.sector_size, data)
        damaged.write(src.sector_size, bytes(src.sector_size))
        no_primary = Source.of(damaged)
        corpus.add("gpt", f"{name}-no-primary.bin", sparse_image([no_primary], [edges(no_primary)]))
        corpus.add("gpt", f"{name}-no-backup.bin", sparse_image([src], [[head, (tail[0], tail[1] - 1)]]))
        if src.size * 2 <= SPARSE_LIMIT:
            grown = bytearray(sparse_image([src], [edges(src)]))
            struct.pack_into("<I", grown, 1, src.sectors * 2)  # the disk doubles; the table stays
            corpus.add("gpt", f"{name}-grown.bin", bytes(grown))
    for name, src in sgdisk_gpt_disks(work):
        corpus.add("gpt", f"{name}.bin", sparse_image([src], [edges(src)]))
        corpus.add("protective_mbr", f"{name}.bin", src.read(0, 512))
    # LBA 0 as other tools leave it: basic MBR partitions (which convert to simple volumes), an
    # extended partition, a 0x42 dynamic disk, boot code, nothing at all.
    corpus.add("protective_mbr", "mbr-two-basic.bin", mbr_sector([(0x07, 2048, 4096), (0x0C, 6144, 4096)], b"\xeb\x63\x90"))
    corpus.add("protective_mbr", "mbr-extended.bin", mbr_sector([(0x07, 63, 2000), (0x0F, 2063, 8000)]))
    corpus.add("protective_mbr", "mbr-dynamic.bin", mbr_sector([(0x42, 63, 14000)]))
    corpus.add("protective_mbr", "mbr-covers-privhead.bin", mbr_sector([(0x07, 1, 8000)]))
    corpus.add("protective_mbr", "zeros.bin", bytes(512))


# -- FAT ----------------------------------------------------------------------------------------

def populate(volume: fat.Volume) -> None:
    """A tree with what directory code must get right: long and short names, names in other
    scripts, a folder spanning several clusters, deleted entries, nesting, a label."""
    volume.makedirs("EFI/Microsoft/Boot")
    volume.write_bytes("EFI/Microsoft/Boot/bootmgfw.efi", bytes(range(256)) * 12)
    volume.write_bytes("EFI/Microsoft/Boot/BCD", b"regf" + bytes(600))
    volume.write_bytes("README.TXT", b"short name only\r\n")
    volume.write_bytes("A file with a long name.txt", b"long name\r\n" * 40)
    volume.write_bytes("Grüße aus Köln.txt", "ümlaut\r\n".encode())
    volume.write_bytes("日本語のファイル名.txt", "名前\r\n".encode())
    volume.makedirs("many")
    for i in range(40):
        volume.write_bytes(f"many/entry number {i:02} with a long name.dat", bytes([i]) * (i * 37))
    for i in range(0, 40, 3):
        volume.remove(f"many/entry number {i:02} with a long name.dat")
    volume.makedirs("deep/er/and/deeper/still")
    volume.write_bytes("deep/er/and/deeper/still/leaf.bin", b"\x00\x01" * 700)
    volume.label = "FUZZSEED"
    volume.flush()


def engine_fat_volumes() -> Iterable[Tuple[str, bootmirror.Disk]]:
    for name, size, fs, ss in [("fat12-2m", 2 * MiB, "FAT12", 512), ("fat16-16m", 16 * MiB, "FAT16", 512),
                               ("fat32-40m", 40 * MiB, "FAT32", 512), ("fat16-4kn-32m", 32 * MiB, "FAT", 4096)]:
        disk = bootmirror.Disk.memory(size, ss)
        fat.format(disk, fs, label="SEED")
        with fat.open(disk) as volume:
            populate(volume)
        yield f"engine-{name}", disk


def mkfs_volumes(work: Path) -> Iterable[Tuple[str, Source]]:
    """Volumes mkfs.fat makes with options the engine's format never picks, filled by mtools."""
    options = {
        "mkfs-fat12-1fat": (2, ["-F", "12", "-f", "1", "-r", "112", "-n", "ONEFAT"]),
        "mkfs-fat16-s8": (16, ["-F", "16", "-s", "8", "-R", "4"]),
        "mkfs-fat16-s2k": (16, ["-F", "16", "-S", "2048", "-s", "1"]),
        "mkfs-fat32-small": (34, ["-F", "32", "-s", "1"]),
        "mkfs-fat32-1fat": (64, ["-F", "32", "-s", "1", "-f", "1"]),
    }
    for name, (mib, args) in options.items():
        image = work / f"{name}.img"
        image.unlink(missing_ok=True)
        run("mkfs.fat", "-C", "-i", "12345678", "--invariant", *args, str(image), str(mib * 1024))
        env = {"MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0", "PATH": "/usr/bin:/bin"}
        payload = work / "payload.txt"
        payload.write_bytes(b"written by mtools\r\n" * 30)
        run("mmd", "-i", str(image), "::/Dir With Spaces", env=env)
        run("mmd", "-i", str(image), "::/Dir With Spaces/Sub", env=env)
        run("mcopy", "-i", str(image), str(payload), "::/Dir With Spaces/Sub/A rather long file name.txt", env=env)
        run("mcopy", "-i", str(image), str(payload), "::/SHORT.TXT", env=env)
        run("mattrib", "-i", str(image), "+h", "+r", "::/SHORT.TXT", env=env)
        fix_times(image)
        yield name, Source.file(image)


def fix_times(image: Path) -> None:
    """mtools stamps its entries with the clock's time: fixed times (including those of each
    folder's "." and "..", which no path names) keep the seeds the same from run to run."""
    moments = []
    with fat.open(bootmirror.Disk.open(image, writable=True)) as volume:
        g = volume.geometry
        for folder, dirs, files in volume.walk(""):
            for entry in dirs + files:
                path = f"{folder}/{entry}" if folder else entry
                volume.set_times(path, 1_700_000_000, 1_700_000_000, 1_700_000_000)
                if entry in dirs:
                    moments.append(g.data_offset + (volume.stat(path).first_cluster - 2) * g.cluster_size)
    with open(image, "r+b") as f:
        for cluster in moments:
            for slot in (cluster, cluster + 32):  # "." and ".."
                f.seek(slot + 13)
                f.write(bytes(7))  # creation tenths, time and date, access date
                f.seek(slot + 22)
                f.write(bytes(4))  # write time and date


def fat_chain_seed(kind: int, fat_bytes: bytes, wanted: int = 5) -> bytes:
    end = len(fat_bytes.rstrip(b"\0"))
    return struct.pack("<BH", kind, wanted) + fat_bytes[:(end + 511) // 512 * 512]


def crafted_fat_chains(corpus: Corpus) -> None:
    """FATs with the damage chain walks must survive: loops, cross-links, chains into free or
    bad clusters and past the volume, for each entry width."""
    def fat16(entries: Dict[int, int]) -> bytes:
        out = bytearray(2 * 64)
        struct.pack_into("<HH", out, 0, 0xFFF8, 0xFFFF)
        for c, v in entries.items():
            struct.pack_into("<H", out, 2 * c, v)
        return bytes(out)

    def fat32(entries: Dict[int, int]) -> bytes:
        out = bytearray(4 * 64)
        struct.pack_into("<II", out, 0, 0x0FFFFFF8, 0x0FFFFFFF)
        for c, v in entries.items():
            struct.pack_into("<I", out, 4 * c, v)
        return bytes(out)

    def fat12(entries: Dict[int, int]) -> bytes:
        values = [0xFF8, 0xFFF] + [0] * 62
        for c, v in entries.items():
            values[c] = v
        out = bytearray()
        for i in range(0, len(values), 2):
            a, b = values[i], values[i + 1]
            out += bytes([a & 0xFF, (a >> 8) | ((b & 0xF) << 4), b >> 4])
        return bytes(out)

    shapes = {
        "loop": {2: 3, 3: 4, 4: 2},
        "cross-link": {2: 3, 3: 4, 4: 0xFFFFFFFF, 5: 3},
        "into-free": {2: 3, 3: 9},
        "past-volume": {2: 0x0FFFFF00},
        "bad-cluster": {2: 3, 3: 0x0FFFFFF7},
        "fragmented": {2: 10, 10: 11, 11: 5, 5: 0x0FFFFFFF, 20: 21, 21: 0x0FFFFFFF},
    }
    for shape, entries in shapes.items():
        e32 = {c: (0x0FFFFFFF if v == 0xFFFFFFFF else v) for c, v in entries.items()}
        corpus.add("fat_chain", f"crafted-fat32-{shape}.bin", fat_chain_seed(2, fat32(e32)))
        e16 = {c: (0xFFFF if v >= 0x0FFFFFF8 else 0xFFF7 if v == 0x0FFFFFF7 else v & 0xFFFF) for c, v in entries.items()}
        corpus.add("fat_chain", f"crafted-fat16-{shape}.bin", fat_chain_seed(1, fat16(e16)))
        e12 = {c: (0xFFF if v >= 0x0FFFFFF8 else 0xFF7 if v == 0x0FFFFFF7 else v & 0xFFF) for c, v in entries.items()}
        corpus.add("fat_chain", f"crafted-fat12-{shape}.bin", fat_chain_seed(0, fat12(e12)))


def fat_geometry(src: Source) -> Tuple[int, int, int, int]:
    """(FAT type 0/1/2, bytes per sector, first FAT offset, FAT bytes) from a boot sector."""
    boot = src.read(0, 512)
    bps, = struct.unpack_from("<H", boot, 11)
    reserved, = struct.unpack_from("<H", boot, 14)
    fat16_size, = struct.unpack_from("<H", boot, 22)
    fat_size = fat16_size or struct.unpack_from("<I", boot, 36)[0]
    kind = 2 if fat16_size == 0 else (0 if boot[54:59] == b"FAT12" else 1)
    return kind, bps, reserved * bps, fat_size * bps


def fat_seeds(corpus: Corpus, work: Path) -> None:
    volumes: List[Tuple[str, Source]] = [(name, Source.of(disk)) for name, disk in engine_fat_volumes()]
    volumes += list(mkfs_volumes(work))
    for name, src in volumes:
        corpus.add("fat_boot", f"{name}.bin", src.read(0, 8 * 512))
        corpus.add("fat_dir", f"{name}.bin", sparse_image([src]))
        kind, _, fat_at, fat_bytes = fat_geometry(src)
        corpus.add("fat_chain", f"{name}.bin", fat_chain_seed(kind, src.read(fat_at, min(fat_bytes, 64 * 1024))))
    crafted_fat_chains(corpus)


# -- LDM ----------------------------------------------------------------------------------------

class Database:
    """Where a disk's LDM structures are, from its PRIVHEAD."""

    def __init__(self, src: Source) -> None:
        ss = src.sector_size
        self.src = src
        dynamic_mbr = src.read(0, 512)[446 + 4] == 0x42
        offset, length = _core.ldm.config_location(src.device)
        self.config, self.config_sectors = offset // ss, length // ss
        self.privhead = 6 if dynamic_mbr else self.config + self.config_sectors - 1
        toc = self.sector(self.config + 2)
        if not toc.startswith(b"TOCBLOCK"):
            toc = self.sector(self.config + 1)
        self.vmdb = self.config + struct.unpack_from(">Q", toc, 0x2E)[0]
        self.log = self.config + struct.unpack_from(">Q", toc, 0x50)[0]
        self.toc = [self.config + s for s in (1, 2, self.config_sectors - 3, self.config_sectors - 2)]

    def sector(self, lba: int) -> bytes:
        return self.src.read(lba * self.src.sector_size, self.src.sector_size)

    def vblk_area(self) -> bytes:
        """The VMDB sector and the slots up to the last one in use."""
        ss = self.src.sector_size
        vmdb = self.sector(self.vmdb)
        last, size = struct.unpack_from(">II", vmdb, 4)
        area = self.src.read(self.vmdb * ss, last * size)
        used = 0
        for slot in range(len(area) // size):
            entry_count, = struct.unpack_from(">H", area, slot * size + 14)
            if area[slot * size:slot * size + 4] == b"VBLK" and entry_count:
                used = slot + 1
        return area[:max(used, 5) * size]

    def trimmed(self, spare_slots: int = 16) -> Source:
        """A copy of the disk's metadata whose VMDB ends its VBLK area a few slots after the last
        record: Windows stamps every free slot of the 1481-sector area, which would make each
        database 760 KiB of seed; the copy keeps room for a commit and is a few KiB."""
        ss = self.src.sector_size
        copy = bootmirror.Disk.memory(self.src.size, ss)
        for first, end in self.windows():
            for start, data in nonzero_runs(self.src, first, end):
                copy.write(start * ss, data)
        vmdb = bytearray(self.sector(self.vmdb))
        last, size = struct.unpack_from(">II", vmdb, 4)
        keep = min(len(self.vblk_area()) // size + spare_slots, last)
        struct.pack_into(">I", vmdb, 4, keep)
        copy.write(self.vmdb * ss, bytes(vmdb))
        copy.write(self.vmdb * ss + keep * size, bytes((last - keep) * size))
        return Source.of(copy)

    def windows(self) -> List[Tuple[int, int]]:
        """The sectors of the partition table and the database (not the volumes' data)."""
        n = self.src.sectors
        return sorted({(0, 64), (self.config, self.config + self.config_sectors), (max(n - 64, 64), n),
                       (self.privhead, self.privhead + 1)})


def windows_disks(work: Path) -> Dict[str, List[Source]]:
    """The Windows images by set ("ldm-2003r2-mirrored"), each disk in order."""
    try:
        images = data_file(WINDOWS_IMAGES)
    except pytest.fail.Exception as missing:
        sys.exit(f"make_corpus: {missing}")
    folder = work / "windows"
    folder.mkdir()
    with tarfile.open(images) as tar:
        tar.extractall(folder)
    sets: Dict[str, List[Source]] = {}
    for image in sorted(folder.glob("ldm-*.img")):
        stem = image.stem.rsplit("-", 1)[0]
        sets.setdefault(stem, []).append(Source.file(image))
    return sets


def engine_groups() -> Iterable[Tuple[str, List[bootmirror.Disk]]]:
    """Dynamic disks the engine converts and edits through diskpart, as the runbooks do."""
    a, b = bootmirror.Disk.memory(64 * MiB), bootmirror.Disk.memory(64 * MiB)
    diskpart([a, b], "select disk 0\nconvert dynamic\nselect disk 1\nconvert dynamic")
    yield "engine-two-empty", [a, b]
    a, b = bootmirror.Disk.memory(160 * MiB), bootmirror.Disk.memory(160 * MiB)
    m = diskpart([a, b], "select disk 0\nconvert gpt\ncreate partition efi size=8\ncreate partition primary size=16\n"
                         "convert dynamic")
    m.reboot()  # disk 0 holds Windows: its conversion completes at the restart
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect volume 0\nadd disk=1", check=True)
    yield "engine-gpt-mirror", [a, b]
    disks = [bootmirror.Disk.memory(64 * MiB) for _ in range(3)]
    group = bootmirror.ldm.DiskGroup.create("SEED-Dg0")
    for d in disks:
        group.add_disk(d)
    group.create_volume("Volume1", "striped", [(0, 0, 2048), (1, 0, 2048), (2, 0, 2048)])
    group.create_volume("Volume2", "spanned", [(0, 2048, 1024), (1, 2048, 1024)], drive_hint="F:")
    group.create_volume("Volume3", "mirrored", [(1, 4096, 1024), (2, 4096, 1024)])
    group.create_volume("A volume whose name is long enough for its record to span two VBLK slots", "simple",
                        [(2, 8192, 512)])
    group.commit()
    yield "engine-three-layouts", disks
    a = bootmirror.Disk.memory(160 * MiB, 4096)
    diskpart([a], "select disk 0\nconvert gpt\ncreate partition primary size=16\nconvert dynamic")
    yield "engine-gpt-4kn", [a]


def ldm_seeds(corpus: Corpus, work: Path) -> None:
    # The PRIVHEAD, TOCBLOCK and VMDB targets lay their input on the fixture as a change (XOR):
    # zeros are the fixture's own valid structures.
    corpus.add("ldm_privhead", "fixture-unchanged.bin", bytes(512))
    corpus.add("ldm_vmdb", "fixture-unchanged.bin", bytes(512))
    corpus.add("ldm_tocblock", "fixture-unchanged.bin", bytes(4 * 512))
    sets = {name: disks for name, disks in windows_disks(work).items()}
    with bootmirror.deterministic(seed=9, epoch=1_700_000_000):
        sets.update({name: [Source.of(d) for d in disks] for name, disks in engine_groups()})
    for name, disks in sorted(sets.items()):
        dbs = []
        for i, src in enumerate(disks):
            try:
                db = Database(src)
            except bootmirror.Error:
                continue  # a disk of the set that is not dynamic
            dbs.append((src, db))
            tag = f"{name}-{i + 1}"
            corpus.add("ldm_privhead", f"{tag}.bin", db.sector(db.privhead)[:512])
            corpus.add("ldm_tocblock", f"{tag}.bin", b"".join(db.sector(s)[:512] for s in db.toc))
            corpus.add("ldm_vmdb", f"{tag}.bin", db.sector(db.vmdb)[:512])
            if src.sector_size == 512:
                corpus.add("ldm_vblk", f"{tag}.bin", db.vblk_area())
                corpus.add("ldm_klog", f"{tag}.bin", src.read(db.log * 512, 2 * 512))
        if dbs:
            group = dbs[:3]
            corpus.add("ldm_group", f"{name}.bin",
                       sparse_image([d.trimmed() for _, d in group], [d.windows() for _, d in group]))


# -- diskpart and machine.json ------------------------------------------------------------------

DISKPART_SCRIPTS = {
    "list": "list disk\nlist volume\nhelp\nrem nothing\nexit",
    "convert-gpt": "select disk 1\nconvert gpt\nlist partition\ndetail disk",
    "kb814070-shadow": "select disk 1\nconvert gpt\nselect partition 1\ndelete partition override\n"
                       "create partition efi size=8\ncreate partition msr size=4\ncreate partition primary\n"
                       "list partition\ndetail partition",
    "dynamic-mirror": "select disk 1\nconvert gpt\ncreate partition efi size=8\ncreate partition primary size=16\n"
                      "convert dynamic\nreboot\nselect disk 0\nconvert dynamic\nlist volume\n"
                      "select volume 0\nadd disk=0\ndetail volume\nlist disk",
    "mirror-break": "select disk 0\nconvert dynamic\nselect disk 1\nconvert gpt\ncreate partition primary size=8\n"
                    "convert dynamic\nselect volume 0\nadd disk=0\nbreak disk=0 nokeep\nlist volume",
    "break-and-delete": "sel dis 0\nconv dyn\nsel dis 1\nconv dyn\nlist vol\nselect disk 1\nclean\n"
                        "list disk\ndelete disk\nlist disk",
    "letters": "select disk 1\nconvert gpt\ncreate partition primary size=8\nassign letter=E\nlist volume\n"
               "select volume 0\nremove letter=E\nlist volume",
    "errors": "select disk 7\nselect partition 1\ncreate partition primary size=999999\nconvert gpt\n"
              "convert gpt\nfrobnicate\ncreate\n\"quoted words\" here\nselect disk=0",
    "bootcfg": "select disk 0\nconvert gpt\ncreate partition efi size=8\ncreate partition primary size=16\n"
               "assign letter=c\nbootcfg /list 0\nbootcfg /timeout 5\nbootcfg /default /id 3\nboot\n"
               "bootcfg /delete /id 1\nbootcfg /raw \"/fastdetect\" /id 1 /a\nbootcfg /clone /sg {00000000-0000-0000-0000-"
               "000000000000} /tg {00000000-0000-0000-0000-000000000000} /d+ X\nbootcfg /mirror /add {x} /d \"y\"\n"
               "convert dynamic\nreboot\nbootcfg\nbootcfg /?",
}


def machine_seeds(corpus: Corpus, work: Path) -> None:
    for name, script in DISKPART_SCRIPTS.items():
        corpus.add("diskpart", f"{name}.txt", script.encode())
    # machine.json as the engine writes it, naming the target's own images (disk0.img: 512-byte
    # sectors, disk1.img: 4096), with the sections dynamic disks add.
    folder = work / "machine"
    with bootmirror.deterministic(seed=3, epoch=1_700_000_000):
        m = bootmirror.Machine.create(folder)
        m.create_disk(160 * MiB)
        m.create_disk(160 * MiB, 4096)
        corpus.add("machine_json", "engine-two-disks.json", (folder / "machine.json").read_bytes())
        m.diskpart("select disk 0\nconvert gpt\ncreate partition efi size=8\ncreate partition primary size=16\n"
                   "convert dynamic\nselect disk 1\nconvert gpt\nconvert dynamic", check=True)
        corpus.add("machine_json", "engine-pending.json", (folder / "machine.json").read_bytes())
        m.reboot()
        corpus.add("machine_json", "engine-dynamic.json", (folder / "machine.json").read_bytes())
    doc = json.loads((folder / "machine.json").read_text())
    doc["disks"].append({"number": 5, "image": "gone.img", "sector_size": 512})
    corpus.add("machine_json", "missing-disk.json", json.dumps(doc).encode())
    texts = {
        "empty-machine.json": '{"bootmirror_machine": 1, "disks": [], "sections": {}}',
        "escapes.json": '{"bootmirror_machine": 1, "disks": [], "sections": {"x": '
                        '["\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/", -0, 1e308, -9223372036854775808, 0.5, true, null]}}',
        "nested.json": '[[[[[[[[{"a": [{"b": {}}]}]]]]]]]]',
        "twice.json": '{"bootmirror_machine": 1, "disks": [{"number": 0, "image": "disk0.img", "sector_size": 512},'
                      ' {"number": 0, "image": "disk1.img", "sector_size": 4096}]}',
    }
    for name, text in texts.items():
        corpus.add("machine_json", name, text.encode())


def write_intent_seeds(corpus: Corpus, work: Path) -> None:
    """Write-intent bitmaps as a machine keeps them for a mirror whose disk is gone: clean, a few
    regions, and most of a volume (a mirrored 40 MiB volume on 160 MiB disks)."""
    folder = work / "mirror"
    with bootmirror.deterministic(seed=4, epoch=1_700_000_000):
        m = bootmirror.Machine.create(folder)
        m.create_disk(160 * MiB)
        m.create_disk(160 * MiB)
        m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=40\nassign letter=e\nconvert dynamic\n"
                   "select disk 1\nconvert gpt\nconvert dynamic\nselect volume e\nadd disk=1", check=True)
        m.wait()
        m.rebuild_speed_limit = 0  # held: machine.json records the copy and its checkpoint
        m.diskpart("select volume e\nbreak disk=1 nokeep\nadd disk=1", check=True)
        corpus.add("machine_json", "engine-rebuilding.json", (folder / "machine.json").read_bytes())
        m.rebuild_speed_limit = None
        m.wait()
        m.fail_disk(1)
        device = m.dynamic_volume("e").device
        for name, writes in (("one-region", [(0, 4096)]), ("scattered", [(5 * MiB + 7, 100), (33 * MiB, 1 << 20)]),
                             ("most", [(1 * MiB, 36 * MiB)])):
            for offset, length in writes:
                device.write(offset, bytes(length))
            (bitmap,) = folder.glob("write-intent-*.bin")
            corpus.add("write_intent", f"engine-{name}.bin", bitmap.read_bytes())
        corpus.add("machine_json", "engine-failed-disk.json", (folder / "machine.json").read_bytes())
        m.close()


def ntfs_seeds(corpus: Corpus, work: Path) -> None:
    """Volumes mkntfs makes (Debian's ntfs-3g), 512- and 4096-byte sectors, several cluster sizes:
    for the whole-volume target the sectors the reader opens (boot sector, $MFT, $MFTMirr), and
    for the record target the $MFT's first records one by one."""
    volumes = {"mkntfs-c4k": (8, 512, 4096), "mkntfs-c512": (8, 512, 512), "mkntfs-4kn": (16, 4096, 4096),
               "mkntfs-c64k": (32, 512, 65536)}
    for name, (mib, sector, cluster) in volumes.items():
        image = work / f"{name}.img"
        image.unlink(missing_ok=True)
        with open(image, "wb") as f:
            f.truncate(mib << 20)
        run("mkntfs", "-F", "-f", "-q", "-T", "-L", "SEED", "-s", str(sector), "-c", str(cluster), str(image))
        src = Source(_core.ImageFile.open(str(image), False, sector))
        boot = src.read(0, 512)
        cluster_bytes = struct.unpack_from("<H", boot, 11)[0] * boot[13]
        mft, mirror = (struct.unpack_from("<Q", boot, at)[0] * cluster_bytes // sector for at in (48, 56))
        mft_sectors = (64 << 10) // sector
        corpus.add("ntfs", f"{name}.bin", sparse_image([src], [[(0, 16), (mft, mft + mft_sectors), (mirror, mirror + 8)]]))
        for record in range(0, 12 if sector == 512 else 0):  # the record target's records are 1024 bytes
            corpus.add("ntfs_record", f"{name}-record{record}.bin", src.read(mft * sector + record * 1024, 1024))


def ntfs_tree_seed(corpus: Corpus, work: Path) -> None:
    """A small volume mkntfs made and wimlib-imagex filled (folders, a folder with an
    $INDEX_ALLOCATION, small files): every sector that holds something but the $LogFile's fill."""
    tree = work / "ntfs-tree"
    (tree / "WINDOWS/system32").mkdir(parents=True)
    (tree / "WINDOWS/system32/ntoskrnl.exe").write_bytes(b"kernel" * 100)
    for i in range(80):
        (tree / "WINDOWS" / f"file {i:02d}.txt").write_bytes(b"x" * i)
    wim, image = work / "ntfs-tree.wim", work / "ntfs-tree.img"
    run("wimlib-imagex", "capture", str(tree), str(wim), "tree", "--no-acls")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    run("mkntfs", "-F", "-f", "-q", "-T", "-L", "TREE", str(image))
    run("wimlib-imagex", "apply", str(wim), "1", str(image))
    # The $LogFile is filled with 0xFF: left out (zeros), the reader never reads it.
    src = Source(_core.ImageFile.open(str(image)))
    filled = bootmirror.Disk.memory(src.size)
    for at in range(0, src.size, 512):
        sector = src.read(at, 512)
        if sector.count(0xFF) != 512:
            filled.write(at, sector)
    corpus.add("ntfs", "wimlib-tree.bin", sparse_image([Source.of(filled)]))


# -- NVRAM --------------------------------------------------------------------------------------

NVRAM_TEMPLATES = {"ovmf-2m": Path("/usr/share/OVMF/OVMF_VARS.fd"), "ovmf-4m": Path("/usr/share/OVMF/OVMF_VARS_4M.fd")}
NVRAM_TEXTS = [
    r"HD(1,GPT,476688C5-8EBF-47D2-80E7-CF9D065EDB81,0x22,0x66000)/\EFI\Microsoft\WINNT50\ia64ldr.efi",
    "PciRoot(0x0)/Pci(0x1f,0x2)/Sata(0x0,0xffff,0x0)/HD(2,MBR,0x12345678,0x800,0x1000)",
    "PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400123456,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)/Uri(http://x/y.iso)",
    "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(462CAA21-7614-4503-836E-8AB6F4662331),VenHw(93E34C7E-B50E-11DF-9223-2443DFD72085,00)",
    "Acpi(PNP0A03,0x1)/USB(0x2,0x0)/Scsi(0x1,0x0)/NVMe(0x1,01-02-03-04-05-06-07-08)/CDROM(0x1,0x10,0x20)/Path(9,3,ABCD)",
]


def _nvram_head(data: bytes, end: int) -> bytes:
    """A store's file cut after its records (what follows is free flash the target pads back)."""
    return b"\0" + data[:(end + 511) // 512 * 512]


def nvram_seeds(corpus: Corpus, work: Path) -> None:
    """Variable stores (the store target's mode 0): Debian's OVMF templates, stores the engine
    writes (boot entries with Windows' OS options, replaced and deleted values, a copy left in
    deleted transition, the plain 32-byte-header format) and one virt-fw-vars writes; the Boot####
    values in them (mode 1), device path texts (mode 2) and Windows' OS options (mode 3)."""
    from bootmirror import nvram

    vendor = "11111111-2222-3333-4444-555555555555"
    for name, template in NVRAM_TEMPLATES.items():
        corpus.add("nvram", f"store-{name}-template.bin", _nvram_head(template.read_bytes(), 0x64))
    stores = {}
    with bootmirror.deterministic(seed=5, epoch=1_700_000_000):
        s = nvram.create_store(work / "engine.fd", NVRAM_TEMPLATES["ovmf-2m"])
        os_path = nvram.DevicePath.parse(rf"HD(2,GPT,{vendor},0x66022,0x9000)/\WINDOWS")
        windows = nvram.WindowsOsOptions.efi("/fastdetect", os_path).encode()
        a = s.add_boot_entry("Windows Server 2003, Enterprise", NVRAM_TEXTS[0], optional_data=windows)
        b = s.add_boot_entry("EFI Shell", r"\EFI\BOOT\shell.efi", active=False)
        s.boot_order = [b]
        s.boot_order = [a, b]
        s.timeout = 30
        s.set("Gone", b"x", guid=vendor)
        s.delete("Gone", vendor)
        stores["engine-boot-entries"] = s
        t = nvram.create_store(work / "transition.fd", NVRAM_TEMPLATES["ovmf-2m"])
        t.set("Value", b"old", guid=vendor)
        t.set("Value", b"new", guid=vendor)
        stores["engine-transition"] = t
        corpus.add("nvram", "windows-os-options.bin", b"\3" + windows)
    for name, store in stores.items():
        data = bytearray(store.image())
        if name == "engine-transition":  # the old copy back in deleted transition, the new one only header-valid
            first, second = store.records()
            data[first.offset + 2], data[second.offset + 2] = 0x3E, 0x7F
        corpus.add("nvram", f"store-{name}.bin", _nvram_head(bytes(data), store.engine.variables_end))
        for entry in store.boot_entries():
            corpus.add("nvram", f"load-option-{name}-{entry.name}.bin", b"\1" + entry.option.encode())
    # The plain (non-authenticated) store format: gEfiVariableGuid's signature and 32-byte headers.
    plain = bytearray(NVRAM_TEMPLATES["ovmf-2m"].read_bytes())
    plain[0x48:0x58] = bytes.fromhex("1636cfdd75326441" + "98b6fe85707ffe7d")
    disk = bootmirror.Disk.memory(len(plain))
    disk.write(0, bytes(plain))
    p = nvram.Store.from_disk(disk)
    p.set("PlainOne", b"1", guid=vendor)
    p.set("PlainOne", b"2", guid=vendor)
    corpus.add("nvram", "store-engine-plain-format.bin", _nvram_head(p.image(), p.engine.variables_end))
    virt = work / "virt.fd"
    run("virt-fw-vars", "-i", str(NVRAM_TEMPLATES["ovmf-4m"]), "-o", str(virt), "--append-boot-filepath", r"\EFI\BOOT\grubx64.efi",
        "--set-boot-uri", "http://example.com/boot.iso")
    v = nvram.Store.open(virt)
    corpus.add("nvram", "store-virt-fw-vars-4m.bin", _nvram_head(virt.read_bytes(), v.engine.variables_end))
    for entry in v.boot_entries():
        corpus.add("nvram", f"load-option-virt-fw-vars-{entry.name}.bin", b"\1" + entry.option.encode())
    for i, text in enumerate(NVRAM_TEXTS):
        corpus.add("nvram", f"device-path-text-{i}.bin", b"\2" + text.encode())
def qemu_console_seeds(corpus: Corpus) -> None:
    """Consoles of QEMU boots as OVMF and GRUB write them (docs/qemu-boots.md): VT100 sequences,
    CR LF, OVMF's BdsDxe lines, the marker loader's lines, code page 437 box drawing."""
    esp0 = 'HD(1,GPT,0E88F718-E01A-4F58-A312-F1DD5C351D0E,0x22,0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi'
    esp1 = 'HD(1,GPT,09269A1D-E2E6-434C-BC0B-F1C70FDCB09B,0x22,0x14000)/\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi'
    marker = ("BOOTMIRROR-LOADED bootmirror\r\nBOOTMIRROR-PART 09269a1d-e2e6-434c-bc0b-f1c70fdcb09b\r\n"
              "BOOTMIRROR-FS 4100-0070\r\nBOOTMIRROR-PATH (hd1,gpt1)/EFI/Microsoft/WINNT50\r\nBOOTMIRROR-END\r\n")
    clear = "\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01H"
    grub = "\x1b[0m\x1b[30m\x1b[47mWelcome to GRUB!\r\n\r\n\x1b[0m\x1b[37m\x1b[40m\x1b[H\x1b[J\x1b[1;1H"
    texts = {
        "boots.txt": f'{clear}BdsDxe: loading Boot0000 "bootmirror disk 0" from {esp0}\r\n'
                     f'BdsDxe: starting Boot0000 "bootmirror disk 0" from {esp0}\r\n{grub}{marker}',
        "missing-disk.txt": f'{clear}BdsDxe: failed to load Boot0000 "bootmirror disk 0" from {esp0}: Not Found\r\n'
                            f'BdsDxe: loading Boot0001 "bootmirror disk 1" from {esp1}\r\n'
                            f'BdsDxe: starting Boot0001 "bootmirror disk 1" from {esp1}\r\n{grub}{marker}',
        "returned.txt": f'BdsDxe: starting Boot0000 "bootmirror disk 0" from {esp0}\r\n'
                        'BdsDxe: failed to start Boot0000 "bootmirror disk 0" from PciRoot(0x0): Aborted\r\n'
                        'BdsDxe: loading Boot0002 "UiApp" from Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/'
                        'FvFile(462CAA21-7614-4503-836E-8AB6F4662331)\r\n',
        "cut-short.txt": f"{grub}BOOTMIRROR-LOADED a\r\nBOOTMIRROR-PART unknown\r\nBOOTMIRROR-FS 12\x1b[",
    }
    for name, text in texts.items():
        corpus.add("qemu_console", name, text.encode())
    corpus.add("qemu_console", "box-drawing.bin", b"\x1b[1;1H\xda\xc4\xc4\xbf Boot Manager \xb3\r\n\xc0\xc4\xd9\x1b(B\x1bc")


def main() -> None:
    corpus = Corpus()
    with tempfile.TemporaryDirectory(prefix="bootmirror-corpus-") as tmp:
        work = Path(tmp)
        with bootmirror.deterministic(seed=1, epoch=1_700_000_000):
            gpt_seeds(corpus, work)
            fat_seeds(corpus, work)
        ldm_seeds(corpus, work)
        machine_seeds(corpus, work)
        write_intent_seeds(corpus, work)
        ntfs_seeds(corpus, work)
        ntfs_tree_seed(corpus, work)
        nvram_seeds(corpus, work)
        qemu_console_seeds(corpus)
    corpus.write()


if __name__ == "__main__":
    main()

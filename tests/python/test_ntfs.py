"""The NTFS reader on volumes Debian's mkntfs (ntfs-3g) makes: what it reads (label, serial,
version, geometry, the $MFT's records) agrees with what ntfsinfo and blkid read from the same
image, for 512- and 4096-byte sectors and several cluster sizes; list volume names an NTFS
partition and its label; damage is a FormatError naming where, and nothing is written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, ntfs
from conftest import run_tool

MiB = 1 << 20


def mkntfs(path: Path, mib: int, sector: int = 512, cluster: int = 4096, label: str = "PRIMARY",
           start: int = 0) -> Path:
    with open(path, "wb") as f:
        f.truncate(mib * MiB)
    run_tool(["mkntfs", "-F", "-f", "-q", "-L", label, "-s", str(sector), "-c", str(cluster), "-p", str(start),
              "-H", "255", "-S", "63", str(path)])
    return path


def ntfsinfo(path: Path) -> dict:
    """ntfsinfo -m's "Key: value" lines."""
    out = {}
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C.UTF-8"}  # labels printed as UTF-8
    for line in run_tool(["ntfsinfo", "-m", str(path)], env=env).stdout.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            out.setdefault(key, value.strip())
    return out


def blkid(path: Path, tag: str) -> str:
    return run_tool(["blkid", "-p", "-s", tag, "-o", "value", str(path)]).stdout.rstrip("\n")


@pytest.mark.parametrize("sector,cluster,label", [(512, 4096, "PRIMARY"), (512, 512, "Ünïcode ✓"), (4096, 4096, "4KN"),
                                                  (512, 65536, "BIG")])
def test_the_reader_sees_what_ntfsinfo_and_blkid_see(tmp_path, sector, cluster, label):
    image = mkntfs(tmp_path / "v.img", 96, sector, cluster, label)
    with Disk.open(image, sector_size=sector) as disk:
        v = ntfs.open(disk)
        info = ntfsinfo(image)
        assert v.label == info["Volume Name"] == blkid(image, "LABEL") == label
        assert f"{v.version[0]}.{v.version[1]}" == info["Volume Version"] == "3.1"
        assert v.bytes_per_sector == int(info["Sector Size"]) == sector
        assert v.cluster_size == int(info["Cluster Size"]) == cluster
        assert v.cluster_count == int(info["Volume Size in Clusters"])
        assert v.mft_record_size == int(info["MFT Record Size"])
        assert f"{v.serial:016X}" == blkid(image, "UUID")
        # The system files' records (0 $MFT ... 11 $Extend) all read, each a FILE record in use.
        for n in range(12):
            record = v.read_record(n)
            assert record[:4] == b"FILE" and len(record) == v.mft_record_size


def test_list_volume_names_an_ntfs_partition_and_its_label(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("160 MiB")
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=64\nassign letter=c", check=True)
    (part,) = [p for p in m.disk(0).partitions if p.size >= 60 * MiB]
    volume = mkntfs(tmp_path / "c.img", 64, start=part.offset // 512, label="PRIMARY")
    m.disk(0).write(part.offset, volume.read_bytes()[: part.size])
    listing = m.diskpart("list volume")
    (row,) = [line for line in listing.splitlines() if " C " in line]
    assert "PRIMARY" in row and "NTFS" in row


def _damaged(tmp_path: Path, offset: int, data: bytes) -> Path:
    image = mkntfs(tmp_path / "v.img", 32)
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)
    return image


def _mft_offset(image: Path) -> int:
    with Disk.open(image) as disk:
        v = ntfs.open(disk)
        boot = disk.read(0, 512)
        return int.from_bytes(boot[48:56], "little") * v.cluster_size


@pytest.mark.parametrize("damage", ["oem id", "sector size", "mft past the volume", "torn mft record", "mft run off the volume",
                                    "absurd record size", "absurd index block size", "truncated volume"])
def test_damage_is_a_format_error_naming_where_and_nothing_is_written(tmp_path, damage):
    probe = mkntfs(tmp_path / "probe.img", 32)
    mft = _mft_offset(probe)
    probe.unlink()
    where, data = {
        "oem id": (3, b"XXXX"),
        "sector size": (11, (520).to_bytes(2, "little")),
        "mft past the volume": (48, (1 << 40).to_bytes(8, "little")),
        "torn mft record": (mft + 510, b"\x99\x99"),
        # The $MFT's $DATA run list lies inside its record; a start cluster far past the volume.
        "mft run off the volume": None,
        # Clusters per record as a signed byte: -31 says 2 GiB records; and a 2^-3-cluster block.
        "absurd record size": (0x40, b"\xe1"),
        "absurd index block size": (0x44, b"\x00"),
        "truncated volume": None,
    }[damage] or (None, None)
    image = mkntfs(tmp_path / "v.img", 32)
    if damage == "truncated volume":  # the image ends inside the $MFT
        os.truncate(image, mft + 2048)
        where, data = 0, image.read_bytes()[:16]
    elif where is None:
        record = bytearray(Path(image).read_bytes()[mft:mft + 1024])
        at = record.find(b"\x80\x00\x00\x00")  # the $DATA attribute
        pairs = at + int.from_bytes(record[at + 32:at + 34], "little")
        header = record[pairs]
        start_bytes = header >> 4
        where, data = mft + pairs + 1 + (header & 0xF), b"\x7f" * start_bytes
    with open(image, "r+b") as f:
        f.seek(where)
        f.write(data)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    with Disk.open(image) as disk:
        with pytest.raises(bootmirror.FormatError) as caught:
            ntfs.open(disk)
    assert caught.value.offset is not None, caught.value
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def _attribute_in_record(image: Path, number: int, kind: int) -> int:
    """The byte offset in `image` of record `number`'s first attribute of type `kind`."""
    mft = _mft_offset(image)
    record = image.read_bytes()[mft + number * 1024:mft + (number + 1) * 1024]
    at = int.from_bytes(record[20:22], "little")
    while int.from_bytes(record[at:at + 4], "little") != kind:
        at += int.from_bytes(record[at + 4:at + 8], "little")
    return mft + number * 1024 + at


@pytest.mark.parametrize("damage", ["$UpCase of 8 GiB", "root folder's $INDEX_ROOT not resident"])
def test_damaged_system_files_are_format_errors_not_usage_errors(tmp_path, damage):
    """An $UpCase claiming 8 GiB met read_file's limit first ("more than read_file answers", a
    UsageError), and a folder whose $INDEX_ROOT was marked non-resident was "not a folder"
    (UsageError) while its parent listed it as one: both are damage."""
    image = mkntfs(tmp_path / "v.img", 32)
    if damage == "$UpCase of 8 GiB":  # allocated, data and initialized sizes
        at = _attribute_in_record(image, 10, 0x80)
        edits = [(at + 40, (8 << 30).to_bytes(8, "little") * 3)]
    else:  # a non-resident header in its place: named $I30, VCNs 0..-1, no runs
        at = _attribute_in_record(image, 5, 0x90)
        edits = [(at + 8, b"\x01"), (at + 10, (64).to_bytes(2, "little")), (at + 64, "$I30".encode("utf-16-le")),
                 (at + 16, (0).to_bytes(8, "little") + (2**64 - 1).to_bytes(8, "little") + (72).to_bytes(2, "little")),
                 (at + 40, bytes(24)), (at + 72, b"\x00")]
    with open(image, "r+b") as f:
        for where, data in edits:
            f.seek(where)
            f.write(data)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    with Disk.open(image) as disk:
        with pytest.raises(bootmirror.FormatError):
            ntfs.open(disk).listdir("")
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


def test_threads_sharing_a_volume_find_names_together(tmp_path):
    # The first name lookup loads $UpCase; threads racing to it (the GIL is released while the
    # engine reads) all get the same answers.
    import threading

    image = mkntfs(tmp_path / "v.img", 32)
    with Disk.open(image) as disk:
        for _ in range(20):
            v = ntfs.open(disk)
            answers = []

            def look() -> None:
                answers.append((v.exists("$mft"), v.stat("$VOLUME").record, v.exists("no such file")))

            threads = [threading.Thread(target=look) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert answers == [(True, 3, False)] * 4


def test_paths_read_in_any_order_find_their_own_files(tmp_path):
    # A walk reads a folder's files one after another, and the reader looks each parent folder up
    # once for them; whatever the order and spelling of the paths, each names its own file.
    host = tmp_path / "host"
    for folder in ("a", "b", "a/deeper"):
        (host / folder).mkdir(parents=True)
    files = {"x.txt": b"root", "a/x.txt": b"in a", "b/x.txt": b"in b", "a/deeper/x.txt": b"deeper"}
    for path, data in files.items():
        (host / path).write_bytes(data)
    image = mkntfs(tmp_path / "v.img", 32)
    with Disk.open(image, writable=True) as disk:
        ntfs.install_tree(disk, host)
    with Disk.open(image) as disk:
        v = ntfs.open(disk)
        spellings = [("a/x.txt", b"in a"), ("b/x.txt", b"in b"), ("x.txt", b"root"), ("\\x.txt", b"root"),
                     ("/A/X.TXT", b"in a"), ("a\\x.txt", b"in a"), ("a/deeper/x.txt", b"deeper"), ("a/x.txt", b"in a"),
                     ("a//x.txt", b"in a"), ("a/./x.txt", b"in a"), ("B/X.txt", b"in b"), ("/x.txt", b"root")]
        for path, data in spellings * 2:
            assert v.read_bytes(path) == data, path
            assert v.stat(path).size == len(data), path
        for path, data in spellings:  # each as the first path a volume is asked
            assert ntfs.open(disk).read_bytes(path) == data, path
        for missing in ("a/x.txt/y", "c/x.txt", "a/deeper/y.txt", "x.txt/x.txt"):
            assert not v.exists(missing), missing
            with pytest.raises(bootmirror.UsageError):
                v.read_bytes(missing)
        assert v.read_bytes("a/x.txt") == b"in a" and v.stat("a/deeper").is_dir


def test_format_and_xcopy_on_an_ntfs_drive_and_the_engines_ntfs_arguments(tmp_path):
    from bootmirror import kb814070, windows_setup

    m = kb814070.rehearsal_machine(tmp_path / "lab", scale=0.05, bootable=False)
    m.diskpart("select disk 0\nselect partition 1\nassign letter=s", check=True)
    # Without /fs, format makes the file system the volume has (it made NTFS C: FAT), and a quoted
    # label keeps its spaces, without the quotes.
    out = m.format("c:", '/q /y /v:"MY LABEL"')
    assert "The type of the file system is NTFS." in out
    assert ntfs.open(Disk(m.drive_device("c:"))).label == "MY LABEL"
    before = [m.disk(0).read(0, 64 * MiB)]
    for switches in ("/fs:ntfs /q /y /a:4294971392", "/fs:fat /q /y /a:4294967296"):  # wrapped to 4 KiB and to 0
        with pytest.raises(bootmirror.UsageError, match="no such allocation unit size"):
            m.format("c:", switches)
    # xcopy copies between FAT volumes: an NTFS drive was read as FAT and reported damaged.
    for source, target in (("c:\\*.*", "s:"), ("s:\\*.*", "c:")):
        with pytest.raises(bootmirror.UsageError, match="C: holds NTFS"):
            m.xcopy(source, target, "/s")
    assert [m.disk(0).read(0, 64 * MiB)] == before
    for size in ("1 MiB", "64 KiB"):  # mkntfs's floor is 1 MiB and a sector: its own error, unnamed
        with pytest.raises(bootmirror.UsageError, match="too small for NTFS: it needs 1 MiB and a sector"):
            ntfs.format(Disk.memory(size))
    for cluster in (-1, 1 << 40):
        with pytest.raises(bootmirror.UsageError, match="cluster_size"):
            ntfs.format(Disk.memory("8 MiB"), cluster_size=cluster)
    # Setup's Windows volume is made first: a partition too small for NTFS leaves the disk blank.
    blank = m.create_disk("2 GiB")
    with pytest.raises(bootmirror.UsageError, match="too small for NTFS"):
        windows_setup.install_windows(m, blank, size="200 KiB")
    assert m.disk(blank).partitions == [] and not any(m.disk(blank).read(0, 1 << 20))


@pytest.mark.parametrize("name, match", [("a:b.txt", "a character Windows does not allow"),
                                         ("back\\slash.txt", "a character Windows does not allow"),
                                         (b"caf\xe9.txt", "not UTF-8"), ("d/" * 201 + "x", "deeper than 200 folders")])
def test_install_tree_refuses_a_host_tree_windows_could_not_use_before_writing(tmp_path, name, match):
    # Such names landed where Windows cannot reach them ("back\slash" not even our reader), or
    # failed wimlib part way with its own words.
    image = mkntfs(tmp_path / "v.img", 32)
    host = tmp_path / "host"
    path = os.path.join(os.fsencode(host), os.fsencode(name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    before = image.read_bytes()
    with Disk.open(image, writable=True) as disk:
        with pytest.raises(bootmirror.UsageError, match=match):
            ntfs.install_tree(disk, host)
    assert image.read_bytes() == before

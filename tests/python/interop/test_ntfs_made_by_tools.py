"""NTFS volumes the engine makes with the real tools: `format /fs:ntfs` runs mkntfs and
`ntfs.install_tree` runs wimlib-imagex, each on a temporary file copied into the volume's device.
Every volume they make, on a partition, on a dynamic simple volume and on each plex of a mirror,
with 512- and 4096-byte sectors, is accepted by `ntfsfix -n` and `ntfs-3g.probe --readonly`, and
read by dissect.ntfs exactly as our reader reads it."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

import bootmirror
from bootmirror import Disk, ntfs
from conftest import run_tool
from ldm_helpers import BOOT_VOLUME_C_BOTH_DYNAMIC
from ntfs_helpers import assert_ntfs_tools_accept, device_image, image_of
from test_ntfs_dissect import host_tree, ours, reference

MiB = 1 << 20

BASIC_C = """select disk 0
convert gpt
create partition primary size={size}
assign letter=c
"""


@pytest.mark.parametrize("sector", [512, 4096])
def test_format_ntfs_on_a_partition_prints_windows_text_and_outside_tools_accept_it(tmp_path, sector):
    m = bootmirror.Machine()
    m.attach(Disk.create(tmp_path / "disk0.img", "1 GiB", sector_size=sector))
    m.diskpart(BASIC_C.format(size=600), check=True)
    said = m.format("c:", "/fs:ntfs /q /v:PRIMARY /y")
    v = m.volume("c:")
    assert isinstance(v, ntfs.Volume) and v.label == "PRIMARY" and v.bytes_per_sector == sector
    assert v.cluster_size == 4096  # Windows Server 2003's default up to 16 TB
    total_kb, free_kb = v.cluster_count * 4, v.free_clusters * 4
    assert said == ("The type of the file system is RAW.\n"
                    "The new file system is NTFS.\n"
                    "QuickFormatting 600M\n"
                    "Creating file system structures.\n"
                    "Format complete.\n"
                    f"{total_kb:>10} KB total disk space.\n"
                    f"{free_kb:>10} KB are available.\n")
    assert "C   PRIMARY      NTFS   Partition" in m.diskpart("list volume")
    image = device_image(Disk(m.drive_device("c:")), tmp_path / "c.img")
    assert_ntfs_tools_accept(image)
    info = run_tool(["ntfsinfo", "-m", str(image)]).stdout
    assert re.search(rf"Volume Size in Clusters: {v.cluster_count}\b", info)
    assert re.search(rf"Sector Size: {sector}\b", info)
    # The partition's start is the boot sector's hidden sectors, as Windows writes it.
    start = m.disks[0].partitions[-1].first_lba
    assert v.hidden_sectors == start
    # Formatting again says what was there.
    assert m.format("c:", "/fs:ntfs /q /v:AGAIN /y").startswith("The type of the file system is NTFS.\n")
    assert m.volume("c:").label == "AGAIN"


def test_install_tree_fills_a_volume_that_dissect_reads_as_we_do(tmp_path):
    tree = tmp_path / "tree"
    host_tree(tree)
    disk = Disk.create(tmp_path / "volume.img", 96 * MiB)
    ntfs.format(disk, label="PRIMARY")
    ntfs.install_tree(disk, tree)
    v = ntfs.open(disk)
    assert not v.dirty and v.label == "PRIMARY"
    mine = ours(v)
    disk.flush()
    assert mine == reference(tmp_path / "volume.img")
    assert len(mine) > 1500
    assert v.read_bytes(r"\WINDOWS\system32\ntoskrnl.exe") == (tree / "WINDOWS/system32/ntoskrnl.exe").read_bytes()
    assert_ntfs_tools_accept(tmp_path / "volume.img")
    # A second tree lands beside the first; one with a name the volume has is refused unwritten.
    more = tmp_path / "more"
    (more / "RECYCLER").mkdir(parents=True)
    (more / "RECYCLER" / "desktop.ini").write_bytes(b"[.ShellClassInfo]\n")
    (more / "boot.ini").write_bytes(b"[boot loader]\n")
    ntfs.install_tree(disk, more)
    v = ntfs.open(disk)
    assert v.read_bytes("recycler/DESKTOP.INI") == b"[.ShellClassInfo]\n" and v.read_bytes("BOOT.INI") == b"[boot loader]\n"
    assert v.isfile("WINDOWS/system32/hal.dll")
    assert_ntfs_tools_accept(tmp_path / "volume.img")
    clash = tmp_path / "clash"
    (clash / "windows").mkdir(parents=True)
    (clash / "windows" / "win.ini").write_bytes(b"x")
    disk.flush()
    before = hashlib.sha256((tmp_path / "volume.img").read_bytes()).hexdigest()
    with pytest.raises(bootmirror.UsageError, match="windows is already on the NTFS volume"):
        ntfs.install_tree(disk, clash)
    assert hashlib.sha256((tmp_path / "volume.img").read_bytes()).hexdigest() == before


def test_an_ntfs_boot_volume_survives_conversion_and_mirroring_and_each_plex_holds_it(tmp_path):
    tree = tmp_path / "tree"
    (tree / "WINDOWS/system32/config").mkdir(parents=True)
    (tree / "WINDOWS/system32/ntoskrnl.exe").write_bytes(os.urandom(300_000))
    (tree / "WINDOWS/system32/config/SYSTEM").write_bytes(os.urandom(40_000))
    m = bootmirror.Machine.create(tmp_path / "machine")
    m.create_disk("340 MiB")
    m.create_disk("340 MiB")
    # Formatted and filled while basic, as Windows is installed before the disks are converted.
    m.diskpart(BOOT_VOLUME_C_BOTH_DYNAMIC.split("select disk 1\nconvert dynamic")[0], check=True)
    m.format("c:", "/fs:ntfs /q /v:PRIMARY /y")
    ntfs.install_tree(m.drive_device("c:"), tree)
    expected = ours(m.volume("c:"))
    m.diskpart("select disk 1\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    assert "C   PRIMARY      NTFS   Simple" in m.diskpart("list volume")
    assert ours(m.volume("c:")) == expected
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    assert "C   PRIMARY      NTFS   Mirror" in m.diskpart("list volume")
    group = m.disk_group
    volume = next(v for v in group.volumes if len(v.plexes) == 2)
    for k, plex in enumerate(volume.plexes):
        (part,) = plex.partitions
        image = image_of(part.disk.disk, part.offset, part.size * part.disk.sector_size, tmp_path / f"plex{k}.img")
        assert_ntfs_tools_accept(image)
        with Disk.open(image) as alone:
            assert ours(ntfs.open(alone)) == expected, plex.name
    # Reformatting the mirror goes to both plexes.
    m.format("c:", "/fs:ntfs /q /v:SHADOW /y")
    assert m.dynamic_volume("c:").verify().identical
    assert m.volume("c:").label == "SHADOW"


def test_bad_format_options_are_refused_before_anything_is_written(tmp_path):
    disk = Disk.create(tmp_path / "v.img", 64 * MiB)
    fat_before = hashlib.sha256((tmp_path / "v.img").read_bytes()).hexdigest()
    for kwargs, message in [({"label": "L" * 33}, "too long"), ({"cluster_size": 3000}, "cluster size"),
                            ({"cluster_size": 256}, "cluster size"), ({"cluster_size": 1 << 17}, "cluster size")]:
        with pytest.raises(bootmirror.UsageError, match=message):
            ntfs.format(disk, **kwargs)
    disk.flush()
    assert hashlib.sha256((tmp_path / "v.img").read_bytes()).hexdigest() == fat_before
    with pytest.raises(bootmirror.FormatError):
        ntfs.install_tree(disk, tmp_path)  # no NTFS on it yet
    with pytest.raises(bootmirror.UsageError, match="not a folder"):
        ntfs.install_tree(disk, tmp_path / "nothing")


def test_a_full_format_reads_every_sector_first_and_writes_nothing_if_one_fails(tmp_path):
    # The last sector unreadable (writes still land): a quick format never reads it, a full format
    # (Windows' "Verifying") reads the whole surface before it writes anything, and stops there.
    disk = Disk.memory(48 * MiB)
    faulty = bootmirror.FaultyDisk(disk)
    faulty.fail_range(disk.size - 512, 512, access="read")
    ntfs.format(faulty, label="QUICK")
    assert ntfs.open(disk).label == "QUICK"
    before = hashlib.sha256(disk.read(0, disk.size)).hexdigest()
    with pytest.raises(OSError):
        ntfs.format(faulty, label="FULL", quick=False)
    assert hashlib.sha256(disk.read(0, disk.size)).hexdigest() == before
    faulty.clear_faults()
    result = ntfs.format(faulty, label="FULL", quick=False)
    assert ntfs.open(disk).label == "FULL"
    text = ntfs.format_summary(result, disk.size, "NTFS", quick=False)
    assert text.splitlines()[:3] == ["The type of the file system is NTFS.", "The new file system is NTFS.", "Verifying 48M"]


def test_the_same_identity_settings_make_the_same_volume(tmp_path):
    digests = []
    for k in range(2):
        disk = Disk.memory(48 * MiB)
        with bootmirror.deterministic(seed=3, epoch=1_700_000_000):
            result = ntfs.format(disk, label="PRIMARY")
        digests.append(hashlib.sha256(disk.read(0, disk.size)).hexdigest())
        assert ntfs.open(disk).serial == result.serial
    assert digests[0] == digests[1]


def test_a_missing_tool_is_a_usage_error_naming_its_debian_package(tmp_path):
    # In a child with a PATH that leaves wimlib-imagex out (it lives in /usr/bin).
    script = (
        "import bootmirror\nfrom bootmirror import Disk, ntfs\n"
        "d = Disk.memory(32 << 20)\nntfs.format(d)\n"
        "try:\n    ntfs.install_tree(d, '.')\nexcept bootmirror.UsageError as e:\n    print(e)\n"
    )
    empty = tmp_path / "bin"
    empty.mkdir()
    os.symlink("/usr/sbin/mkntfs", empty / "mkntfs")
    env = dict(os.environ, PATH=str(empty))
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "wimlib-imagex is not installed" in out.stdout and "wimtools" in out.stdout, out.stdout + out.stderr

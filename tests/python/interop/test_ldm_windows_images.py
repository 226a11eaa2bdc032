"""The 19 real Windows dynamic disks (data/ldm-windows of the test data folder, made by Windows
Server 2003 R2 and 2008 R2) decode, and every disk group, disk, volume and partition matches what
ldmtool (libldm) shows for it. Round-trip: decoding then encoding each database gives its bytes
back."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

import bootmirror
from bootmirror import ldm
from conftest import run_tool
from ldm_helpers import unpack_windows

SETS = ["ldm-2003r2-", "ldm-2008r2-"]
MiB = 1 << 20


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ldm-windows")
    unpack_windows(out)
    return out


def image_set(images: Path, prefix: str):
    return sorted(str(p) for p in images.iterdir() if p.name.startswith(prefix))


def show(paths, *args):
    devs = [a for p in paths for a in ("-d", p)]
    return json.loads(run_tool(["ldmtool", *devs, "show", *args]).stdout)


def test_all_nineteen_images_are_there(images):
    assert len(image_set(images, "ldm-")) == 19


@pytest.mark.parametrize("prefix", SETS)
def test_group_matches_ldmtool(images, prefix):
    paths = image_set(images, prefix)
    group = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    scanned = json.loads(run_tool(["ldmtool", "scan", *paths]).stdout)
    assert scanned == [group.guid]
    dg = show(paths, "diskgroup", group.guid)
    assert dg["name"] == group.name
    assert dg["volumes"] == [v.name for v in group.volumes]
    assert dg["disks"] == [d.name for d in group.disks]

    for v in group.volumes:
        want = show(paths, "volume", group.guid, v.name)
        assert want["guid"] == v.guid
        assert want["type"] == {"raid5": "RAID5"}.get(v.layout, v.layout)
        assert want["size"] == v.size
        assert want["chunk-size"] == max((p.chunk_size for p in v.plexes), default=0)
        assert want.get("hint") == v.drive_hint
        assert want["partitions"] == [p.name for p in v.partitions]
        for p in v.partitions:
            wp = show(paths, "partition", group.guid, p.name)
            assert wp == {"name": p.name, "start": p.start, "size": p.size, "disk": p.disk.name}

    for d in group.disks:
        wd = show(paths, "disk", group.guid, d.name)
        assert wd["guid"] == d.guid and wd["present"] is True and d.present
        assert Path(wd["device"]).name == Path(d.disk.path).name
        assert (wd["data-start"], wd["data-size"]) == (d.data_start, d.data_size)
        assert (wd["metadata-start"], wd["metadata-size"]) == (d.config_start, d.config_size)


@pytest.mark.parametrize("prefix", SETS)
def test_components_as_windows_describes_them(images, prefix):
    # ldmtool has no "show component": check plexes against the layouts instead.
    group = ldm.read_group([bootmirror.Disk.open(p) for p in image_set(images, prefix)])
    for v in group.volumes:
        plexes = v.plexes
        if v.layout == "mirrored":
            assert len(plexes) == 2 and all(len(p.partitions) == 1 for p in plexes)
            assert all(p.partitions[0].size == v.size for p in plexes)
        else:
            assert len(plexes) == 1
            total = sum(p.size for p in v.partitions)
            if v.layout in ("simple", "spanned"):
                assert total == v.size
            if v.layout == "striped":
                assert total == v.size and plexes[0].chunk_size > 0


def test_missing_disks_match_ldmtool(images):
    # Only the two mirrored images of 2003: the other eight disks are absent.
    paths = image_set(images, "ldm-2003r2-mirrored-")
    group = ldm.read_group([bootmirror.Disk.open(p) for p in paths])
    assert [d.name for d in group.disks if d.present] == ["Disk6", "Disk7"]
    for d in group.disks:
        wd = show(paths, "disk", group.guid, d.name)
        assert wd["present"] is d.present
        assert wd["guid"] == d.guid
    assert group.volume("Volume3").status == "Healthy"
    assert group.volume("Volume1").status == "Failed"


@pytest.mark.parametrize("prefix", SETS)
def test_each_disk_left_out_fails_the_volumes_on_it(images, prefix):
    """Each disk of a set left out in turn: the volumes on it are Failed, whatever the layout (a
    spanned volume's runs go on past the missing one), but a mirror and a RAID-5 volume are
    Failed Rd, as Windows shows them: the mirror's other plex serves, the RAID-5 parity holds the
    lost column. A failed volume's device, where its records describe one, raises OSError on a
    read, and its fs is "". The volumes on the disks there stay Healthy."""
    paths = image_set(images, prefix)
    for left_out in range(len(paths)):
        group = ldm.read_group([bootmirror.Disk.open(p) for i, p in enumerate(paths) if i != left_out])
        missing = {d.name for d in group.disks if not d.present}
        for v in group.volumes:
            device = v.device()
            if not {p.disk.name for p in v.partitions} & missing:
                assert v.status == "Healthy", (left_out, v.name)
            elif v.layout == "mirrored":
                assert v.status == "Failed Rd" and device.read(0, 512), (left_out, v.name)
            elif v.layout == "raid5":  # one column of three lost; bootmirror does not read RAID-5
                assert (v.status, device) == ("Failed Rd", None), (left_out, v.name)
            else:
                assert (v.status, v.fs) == ("Failed", ""), (left_out, v.name)
                if device is not None:
                    with pytest.raises(OSError):
                        device.read(0, 512)


def test_every_database_round_trips_byte_for_byte(images):
    for path in image_set(images, "ldm-"):
        disk = bootmirror.Disk.open(path)
        offset, length = bootmirror._core.ldm.config_location(disk.device)
        assert bootmirror._core.ldm.reencode_config(disk.device) == disk.read(offset, length), path


def test_windows_gpt_dynamic_disks_have_the_layout_we_write(images):
    """Five of the 2008 R2 images are GPT dynamic disks (the data README calls them all MBR): the
    LDM metadata partition is the first MiB of the old 32 MiB MSR, which is left with 31 MiB, and
    the PRIVHEAD's logical disk starts right after the MSR. bootmirror converts GPT disks so."""
    gpt_images = [p for p in image_set(images, "ldm-2008r2-") if Path(p).open("rb").read(512)[0x1BE + 4] == 0xEE]
    assert len(gpt_images) == 5
    for path in gpt_images:
        table = run_tool(["sgdisk", "-p", path]).stdout
        rows = [line.split() for line in table.splitlines() if line.strip()[:1].isdigit() and "Partition" not in line]
        rows = [r for r in rows if len(r) >= 6 and r[0].isdigit()]
        codes = {r[5]: (int(r[1]), int(r[2])) for r in rows}
        meta, msr, data = codes["4201"], codes["0C01"], codes["4200"]
        assert meta[1] - meta[0] + 1 == 2048 and msr[0] == meta[1] + 1
        assert (msr[1] - msr[0] + 1) * 512 == 31 * MiB
        group = ldm.read_group([bootmirror.Disk.open(p) for p in image_set(images, "ldm-2008r2-")])
        disk = next(d for d in group.disks if d.disk.path == path)
        assert (disk.config_start, disk.data_start) == (meta[0], msr[1] + 1) == (meta[0], data[0])


@pytest.mark.parametrize("prefix", SETS)
def test_every_plex_starts_with_the_volumes_ntfs_boot_sector(images, prefix):
    """The volumes Windows made are NTFS: sector 0 of each volume, found through our partition
    records (disk data start + partition start, on MBR and GPT disks), holds the NTFS boot sector,
    in every plex of a mirror too."""
    group = ldm.read_group([bootmirror.Disk.open(p) for p in image_set(images, prefix)])
    checked = 0
    for v in group.volumes:
        for plex in v.plexes:
            first = min((p for p in plex.partitions if p.volume_offset == 0), key=lambda p: p.index or 0)
            assert first.disk.disk.read(first.offset + 3, 4) == b"NTFS", (v.name, plex.name, first.name)
            checked += 1
    assert checked == len(group.volumes) + sum(1 for v in group.volumes if v.layout == "mirrored")
    if prefix == "ldm-2008r2-":
        assert {p.disk.scheme for v in group.volumes for p in v.partitions} == {"mbr", "gpt"}

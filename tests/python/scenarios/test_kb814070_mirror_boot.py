"""KB 814070, "Convert the Primary and Shadow Drives to Dynamic" and "Establish a Mirror from the
Boot Drive to the Shadow Drive", on the article's machine: the shadow disk converts at once, the
system disk after a restart, the boot volume is mirrored with "add disk=1", and then both disks'
partition tables are the ones the article's `bootcfg /list 0` and `/list 1` print: every starting
offset and type, and every length but the LDM data partitions' (the article's own tables disagree
there: `list partition` shows the Windows partition as 4996 MB, bootcfg its LDM data partition as
5,142,056,960 bytes; the rehearsal machine is built from the former)."""

from __future__ import annotations

import json
import re

from bootmirror import gpt, kb814070, ntfs
from conftest import run_tool, runbook_text
from ntfs_helpers import assert_ntfs_tools_accept, image_of


def bootcfg_list(disk: int):
    """(start, length, type GUID) of each partition in the article's `bootcfg /list <disk>`."""
    text = runbook_text()
    block = text.split(f"bootcfg /list {disk}\n", 1)[1].split("Make a note", 1)[0]
    starts = [int(s.replace(",", "")) for s in re.findall(r"Starting  offset: ([\d,]+)", block)]
    lengths = [int(s.replace(",", "")) for s in re.findall(r"Partition length: ([\d,]+)", block)]
    types = re.findall(r"GUID type:\s+\{([0-9a-f-]+)\}", block)
    return list(zip(starts, lengths, types))


def windows_tree(volume: ntfs.Volume) -> dict:
    return {path: volume.read_bytes(path) for path in kb814070.WINDOWS_FILES}


def test_convert_both_disks_and_mirror_the_boot_volume(tmp_path):
    m = kb814070.rehearsal_machine(tmp_path / "machine")
    # The boot volume as the article's list volume shows it, holding Windows.
    assert "C   PRIMARY      NTFS   Partition   4996 MB  Healthy    Boot" in m.diskpart("list volume")
    tree = windows_tree(m.volume("c:"))
    assert tree == {path: kb814070.windows_file_contents(path) for path in kb814070.WINDOWS_FILES}
    m.diskpart(kb814070.PREPARE_SHADOW_PARTITIONS, check=True)
    windows = m.disk(0).read(213_857_280, 1 << 20)

    t = m.diskpart("Select disk 1\nConvert dynamic\nSelect disk 0\nConvert dynamic", check=True)
    answers = [a for a in t.split("\n\n") if a and not a.startswith("DISKPART>")]
    assert answers == ["Disk 1 is now the selected disk.",
                       # The article prints "Dynamic format." here and "dynamic format." in its
                       # recovery section; Windows Server 2003's message is lowercase.
                       "Diskpart successfully converted the selected disk to dynamic format.",
                       "Disk 0 is now the selected disk.",
                       "You must reboot your computer to complete this operation."]
    m.reboot()  # "Shut down and restart your computer to complete the conversion"
    t = m.diskpart("select volume 0\nadd disk=1", check=True)
    assert "Diskpart succeeded in adding a mirror to the volume." in t
    m.wait()  # "Wait for the volume synchronization to complete"

    for number in (0, 1):
        ours = [(p.offset, p.size, p.type_guid.lower()) for p in gpt.partitions(m.disk(number))]
        seed = bootcfg_list(number)
        assert [(s, t) for s, _, t in ours] == [(s, t) for s, _, t in seed], number
        for (_, length, kind), (_, seed_length, _) in zip(ours, seed):
            if kind != gpt.LDM_DATA.lower():
                assert length == seed_length
        assert gpt.verify(m.disk(number)).clean

    (volume,) = m.volumes
    assert (volume.type, volume.status) == ("Mirror", "Healthy")
    plex0, plex1 = (p.partitions[0] for p in volume.plexes)
    assert plex0.disk.disk.read(plex0.offset, 1 << 20) == windows == plex1.disk.disk.read(plex1.offset, 1 << 20)
    assert "C   PRIMARY      NTFS   Mirror      4996 MB  Healthy    Boot" in m.diskpart("list volume")
    # Each plex alone holds the Windows tree, and the outside tools accept it.
    for k, part in enumerate((plex0, plex1)):
        length = part.size * part.disk.sector_size
        assert windows_tree(ntfs.open(part.disk.disk.slice(part.offset, length))) == tree, k
        assert_ntfs_tools_accept(image_of(part.disk.disk, part.offset, length, tmp_path / f"plex{k}.img"))
    images = [m._m.image(0), m._m.image(1)]
    assert json.loads(run_tool(["ldmtool", "scan", *images]).stdout) == [m.disk_group.guid]

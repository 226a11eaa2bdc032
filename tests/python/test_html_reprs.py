"""What Jupyter shows (``_repr_html_``): disks drawn to scale, the boot menu with its running and
stale entries, FAT and NTFS trees; names from disk escaped; damage shown, never raised."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from bootmirror import _html, fat, gpt, nvram

SVG = "{http://www.w3.org/2000/svg}"


def svg_rects(page: str) -> list:
    """The partitions' rectangles of the first SVG bar in `page` (the disk's own comes first)."""
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    return svg.findall(f"{SVG}rect")[1:]


def test_a_disk_is_drawn_to_scale_with_each_partition_in_its_place(disk_factory):
    disk = disk_factory("1 GiB", layout="esp")
    disk.create_partition("basic", "300 MiB")
    page = disk._repr_html_()
    parts = disk.partitions
    rects = svg_rects(page)
    assert [r.find(f"{SVG}title").text.split(":")[0] for r in rects] == [f"Partition {p.number} {p.kind} {p.name}" for p in parts]
    for p, r in zip(parts, rects):
        assert float(r.get("x")) == pytest.approx(p.offset * _html.WIDTH / disk.size, abs=0.1)
        assert float(r.get("width")) == pytest.approx(max(p.size * _html.WIDTH / disk.size, _html.MIN_WIDTH), abs=0.1)
        assert r.get("fill") == _html.KIND_COLOURS[p.kind]
    assert "1,073,741,824 bytes" in page


def test_names_from_disk_are_escaped(disk_factory):
    disk = disk_factory("128 MiB", layout="gpt")
    table = gpt.read(disk)
    entry = table.entries[0]
    entry.name = '<img src=x onerror="alert(1)">'
    table.set_entry(0, entry)
    gpt.write(disk, table)
    page = disk._repr_html_()
    assert "<img" not in page and "&lt;img" in page
    assert _html.escape("\udcff<") == "\ufffd&lt;"  # a lone surrogate from a bad UTF-16 name


def test_a_disk_without_a_table_or_with_a_damaged_one_still_shows(disk_factory):
    raw = disk_factory("16 MiB")
    assert "no partitions" in raw._repr_html_()
    broken = disk_factory("128 MiB", layout="gpt")
    for lba in (1, broken.sector_count - 1):  # both headers gone
        broken.write(lba * 512, b"\xff" * 512)
    page = broken._repr_html_()
    assert "128 MiB (134,217,728 bytes)" in page and "<svg" not in page
    assert "partition table:" in page and "both GPT copies are unusable" in page


def test_a_fat_tree_folds_its_folders_and_stops_at_its_limit(disk_factory):
    disk = disk_factory("64 MiB")
    fat.format(disk, "FAT")
    with fat.open(disk) as volume:
        volume.makedirs("EFI/Microsoft/WINNT50")
        volume.write_bytes("EFI/Microsoft/WINNT50/ia64ldr.efi", b"x" * 1234)
        for i in range(250):
            volume.write_bytes(f"f{i:03}.txt", b"")
        page = volume._repr_html_()
    assert "<summary>EFI/</summary>" in page and "<summary>WINNT50/</summary>" in page
    assert "ia64ldr.efi <small>1,234 bytes</small>" in page
    assert page.count("<li>") == 200 + 1  # the limit, and one line counting the rest
    assert "... 54 more" in page  # 3 folders and a file came first: 250 - 196


@pytest.mark.kb814070(scale=0.1)
def test_the_machine_shows_its_disks_group_and_boot_menu_with_running_and_stale_entries(kb814070_machine):
    m = kb814070_machine
    m.diskpart("select disk 1\nconvert gpt\nconvert dynamic\nselect disk 0\nconvert dynamic", check=True)
    m.reboot()
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.wait()
    page = m._repr_html_()
    assert page.count("<svg") == 2 and "Disk group" in page and "Boot menu (Timeout" in page
    menu = m.nvram._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", menu)[1:]
    windows = next(r for r in rows if "Windows 2003 Server" in r and "plex" not in r)
    assert "running" in windows and "STALE" not in windows
    ntfs_tree = m.volume("c")._repr_html_()
    assert "NTFS 3.1" in ntfs_tree and "<summary>WINDOWS/</summary>" in ntfs_tree

    esp = m.disk(0).partitions[0].unique_guid.upper()
    m.fail_disk(0)
    menu = m.nvram._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", menu)[1:]
    # Windows' entry and the mirror's (diskpart points it at the same ESP; no clone was made)
    assert [r for r in rows if "STALE" in r] == [r for r in rows if f"HD(1,GPT,{esp}," in r]
    assert len([r for r in rows if "STALE" in r]) == 2
    assert "Missing" in m._repr_html_()  # the dead disk in the group, the page still drawn


def test_a_standalone_store_shows_its_boot_order(tmp_path):
    store = nvram.create_store(tmp_path / "vars.fd")
    shell = store.add_boot_entry("EFI Shell", "Fv(7CB8BDC9-F8EB-4F34-AAEA-3EE4AF6516A1)/FvFile(7C04A583-9E3E-4F1C-AD65-E05268D0B4D1)")
    first = store.add_boot_entry("<b>bold</b>", "HD(1,GPT,0984E4C1-1A81-4F94-8819-033B1DD72025,0x3f,0xa322)/\\EFI\\BOOT\\BOOTX64.EFI",
                                 active=False)
    store.boot_order = [first]
    store.boot_next = first
    page = store._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", page)[1:]
    assert len(rows) == 2
    assert f"Boot{first:04X}" in rows[0] and "next boot; inactive" in rows[0] and "&lt;b&gt;bold" in rows[0]
    assert f"Boot{shell:04X}" in rows[1] and "not in BootOrder" in rows[1]


def test_a_machine_without_nvram_shows_that_and_setup_writes_nothing_there(machine):
    # Its NVRAM's repr raised "no NVRAM" (a notebook showed a traceback), and Windows setup wrote
    # the whole disk before finding there was nowhere to put its boot entry.
    from bootmirror import UsageError, windows_setup

    assert "none yet" in repr(machine.nvram) and "No NVRAM yet" in machine.nvram._repr_html_()
    number = machine.create_disk("2 GiB")
    with pytest.raises(UsageError, match="no NVRAM"):
        windows_setup.install_windows(machine, number)
    assert not any(machine.disk(number).read(0, 1 << 20))

"""8.3 names and labels in the OEM code page, against mtools (which writes and reads them in the
code page its configuration names: default_codepage) and fsck.fat: what mtools writes we list under
its real name, and what we write mtools lists."""

from __future__ import annotations

import pytest

import bootmirror
from bootmirror import fat
from conftest import run_tool
from fat_helpers import assert_fsck_clean, mtool

MiB = 1024 * 1024
# 8.3 names only (no long-name entry), upper or lower case within each part.
NAMES = {437: ["GRÖSSEC.TXT", "åäö.txt", "ÉTÉ.DOC", "NIÑO"], 850: ["ÕPEN.TXT", "ØRE.TXT", "ÂGE.txt", "ÆBLE"]}


def _short_entries(v):
    return {e.name: (e.raw_short_name, e.raw_long_name) for e in v.scandir("")}


@pytest.mark.parametrize("codepage", sorted(NAMES))
def test_we_list_mtools_non_ascii_short_names_by_their_real_names(tmp_path, codepage):
    image = tmp_path / "theirs.img"
    run_tool(["mkfs.fat", "-C", "-n", "THEIRS", str(image), "4096"])
    payload = tmp_path / "payload"
    for i, name in enumerate(NAMES[codepage]):
        payload.write_bytes(name.encode("utf-8") * (i + 1))
        mtool(tmp_path, "mcopy", image, str(payload), f"::/{name}", codepage=codepage)
    listing = mtool(tmp_path, "mdir", image, "-a", "::/", codepage=codepage)
    with bootmirror.Disk.open(image) as disk:
        v = fat.open(disk, codepage=f"cp{codepage}")
        entries = _short_entries(v)
        assert sorted(entries) == sorted(NAMES[codepage])
        for i, name in enumerate(NAMES[codepage]):
            raw, long_name = entries[name]
            assert long_name == b"", name  # mtools kept each as an 8.3 name: ours decodes it
            base, _, ext = name.partition(".")
            assert raw == f"{base.upper():<8}{ext.upper():<3}".encode(f"cp{codepage}").replace(b"\xe5", b"\x05", 1)[:11]
            assert v.read_bytes(name) == name.encode("utf-8") * (i + 1)
            assert v.read_bytes(name.upper()) == v.read_bytes(name.lower())
            assert any(line.startswith(f"{base:<8} {ext:<3}") for line in listing.splitlines()), (name, listing)
        assert v.check().clean


@pytest.mark.parametrize("codepage", sorted(NAMES))
def test_mtools_lists_the_non_ascii_names_we_write(tmp_path, codepage):
    image = tmp_path / "ours.img"
    names = NAMES[codepage] + ["Ünïcode long name.txt", "ĸ.TXT"]  # the last two need long names
    with bootmirror.Disk.create(image, 8 * MiB) as disk:
        fat.format(disk, "FAT12", codepage=f"cp{codepage}")
        v = fat.open(disk, codepage=f"cp{codepage}")
        for i, name in enumerate(names):
            v.write_bytes(name, bytes([i]) * 100)
        ours = _short_entries(v)
    assert all(ours[n][1] == b"" for n in NAMES[codepage])
    assert all(ours[n][1] != b"" for n in names[-2:])
    assert_fsck_clean(image)
    listing = mtool(tmp_path, "mdir", image, "-a", "::/", codepage=codepage)
    for name in NAMES[codepage]:
        base, _, ext = name.partition(".")
        assert any(line.startswith(f"{base:<8} {ext:<3}") for line in listing.splitlines()), (name, listing)
    for name in names[-2:]:
        assert any(line.endswith(name) for line in listing.splitlines()), (name, listing)
    out = tmp_path / "out"
    out.mkdir()
    mtool(tmp_path, "mcopy", image, "-n", "::/*", str(out), codepage=codepage)
    # mcopy honours the lower-case flags only for ASCII letters when it names the host file (mdir
    # above shows them all): compare its names case-insensitively.
    copied = {p.name.casefold(): p.read_bytes() for p in out.iterdir()}
    assert copied == {name.casefold(): bytes([i]) * 100 for i, name in enumerate(names)}


def test_labels_in_the_code_page_against_mlabel(tmp_path):
    image = tmp_path / "label.img"
    run_tool(["mkfs.fat", "-C", str(image), "4096"])
    mtool(tmp_path, "mlabel", image, "::GRÖSSE", codepage=437)
    with bootmirror.Disk.open(image) as disk:
        assert fat.open(disk).label == "GRÖSSE"
        assert fat.open(disk, codepage="cp850").label == "GRÖSSE"  # Ö is 0x99 in both pages
    with bootmirror.Disk.open(image, writable=True) as disk:
        fat.open(disk, codepage="cp850").label = "ØRE"
    shown = mtool(tmp_path, "mlabel", image, "-s", "::", codepage=850)
    assert "ØRE" in shown, shown


def test_a_machine_s_oem_code_page_serves_format_xcopy_and_list_volume(tmp_path):
    """A European Windows (cp850): the label format writes, the short names xcopy copies and what
    list volume shows are in cp850, as mtools set to 850 reads them; the setting lasts."""
    m = bootmirror.Machine.create(tmp_path / "lab")
    m.create_disk("160 MiB")
    m.oem_codepage = "850"
    assert m.oem_codepage == "cp850"
    with pytest.raises(bootmirror.UsageError, match="cp437"):
        m.oem_codepage = "cp65001"
    m.diskpart("select disk 0\nconvert gpt\ncreate partition efi size=40\nassign letter=S\n"
               "create partition primary size=40\nassign letter=P", check=True)
    m.format("s:", "/fs:fat /q /y /v:ÅRHUS")
    m.format("p:", "/fs:fat /q /y")
    m.volume("p:").write_bytes("ØRE.TXT", b"kroner")
    m.xcopy("p:\\*.*", "s:", "/s /h")
    assert "ÅRHUS" in m.diskpart("list volume")
    m.close()
    m = bootmirror.Machine.open(tmp_path / "lab")
    assert m.oem_codepage == "cp850" and m.volume("s:").label == "ÅRHUS"
    esp = m.disk(0).partitions[1]
    image = tmp_path / "esp.img"
    image.write_bytes(m.disk(0).read(esp.offset, esp.size))
    assert "ÅRHUS" in mtool(tmp_path, "mlabel", image, "-s", "::", codepage=850)
    assert any(line.startswith("ØRE      TXT") for line in mtool(tmp_path, "mdir", image, "-a", "::/", codepage=850).splitlines())
    # fsck.fat 4.2 takes any label byte above 0x7F for invalid (Windows writes them): its only word.
    said = run_tool(["fsck.fat", "-n", str(image)], check=False).stdout
    problems = [line.strip() for line in said.splitlines()[1:-1] if line.strip() and "unchanged" not in line]
    assert problems == ["Volume label 'ÅRHUS' stored in root directory is not valid.", "Auto-removing label."], said

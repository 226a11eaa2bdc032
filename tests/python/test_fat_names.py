"""Names on FAT: 8.3 names and labels in the volume's OEM code page, long names holding lone
UTF-16 surrogates, and the rule that every name a listing returns opens its file."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bootmirror
from bootmirror import fat
from fat_helpers import entry_offset, folder_region, image_digest

# fatgen103 section 6.1: bytes an 8.3 name may not hold (besides control characters and DEL).
ILLEGAL = set(b'"*+,./:;<=>?[\\]|') | {0x7F}
# What fsck.fat and Windows accept on disk (fsck.fat takes + , ; = [ ] too; Windows never writes them).
ON_DISK_OK = [b for b in range(0x21, 0x100) if b not in set(b'"*./:<>?\\|') and b != 0x7F]
_LFN_CHARS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]


def _volume(size="2 MiB", fs="FAT12", codepage="cp437"):
    disk = bootmirror.Disk.memory(size)
    fat.format(disk, fs, serial=1, codepage=codepage)
    return disk, fat.open(disk, codepage=codepage)


def _raw_name(disk, vol, placeholder: str, raw: bytes, folder: str = "") -> None:
    """Gives the 8.3-only file `placeholder` (e.g. "PLACE.TXT") the raw 11-byte name `raw`."""
    base, _, ext = placeholder.partition(".")
    at = entry_offset(disk, vol, folder, f"{base:<8}{ext:<3}".encode())
    disk.write(at, raw)


def _listing_opens(disk, codepage, expected: bytes) -> str:
    v = fat.open(disk, codepage=codepage)
    (name,) = v.listdir("")
    assert v.read_bytes(name) == expected
    assert v.stat(name).name == name
    return name


# -- 8.3 names and labels in the OEM code page ---------------------------------------------------------
def test_short_names_written_by_another_tool_decode_with_the_volume_code_page():
    disk, v = _volume()
    v.write_bytes("PLACE.TXT", b"grosse")
    _raw_name(disk, v, "PLACE.TXT", b"GR\x99SSEC TXT")  # what DOS and Windows store for GRÖSSEC.TXT
    assert _listing_opens(disk, "cp437", b"grosse") == "GRÖSSEC.TXT"
    v = fat.open(disk)
    assert v.read_bytes("grössec.txt") == b"grosse"  # case-insensitive, as on Windows
    assert v.scandir("")[0].raw_short_name == b"GR\x99SSEC TXT"
    disk.write(entry_offset(disk, v, "", b"GR\x99SSEC TXT") + 2, b"\x9b")
    assert _listing_opens(disk, "cp437", b"grosse") == "GR¢SSEC.TXT"  # 0x9B differs between pages
    assert _listing_opens(disk, "cp850", b"grosse") == "GRøSSEC.TXT"


def test_an_8_3_only_non_ascii_name_opens_by_its_real_name_in_either_case():
    disk, v = _volume()
    v.write_bytes("PLACE.TXT", b"x")
    _raw_name(disk, v, "PLACE.TXT", b"\x8f\x8e\x99     TXT")
    v = fat.open(disk)
    assert v.listdir("") == ["ÅÄÖ.TXT"]
    assert v.read_bytes("ÅÄÖ.TXT") == v.read_bytes("åäö.txt") == v.read_bytes("Åäö.Txt") == b"x"
    assert v.exists("åäö.TXT") and not v.exists("AAO.TXT")


def test_first_byte_05_stands_for_e5():
    disk, v = _volume(codepage="cp850")
    v.write_bytes("ÕPEN.TXT", b"o")  # Õ is 0xE5 in cp850, the mark of a free entry: stored as 0x05
    (e,) = v.scandir("")
    assert e.raw_short_name == b"\x05PEN    TXT" and e.raw_long_name == b"" and e.name == "ÕPEN.TXT"
    assert fat.open(disk, codepage="cp850").read_bytes("õpen.txt") == b"o"
    assert fat.open(disk, codepage="cp437").listdir("") == ["σPEN.TXT"]  # the same byte in cp437
    assert v.check().clean


def test_new_names_follow_windows_rules_in_the_code_page():
    disk, v = _volume()
    v.write_bytes("GRÖSSEC.TXT", b"1")  # upper case in the page: 8.3 only
    v.write_bytes("åäö.txt", b"2")      # lower case in the page: 8.3 with case flags (as mtools writes)
    v.write_bytes("Õ.TXT", b"3")        # cp437 has no Õ: '_' and a long name
    v.write_bytes("Ünïcode name.txt", b"4")
    raw = {e.name: (e.raw_short_name, e.raw_long_name) for e in v.scandir("")}
    assert raw["GRÖSSEC.TXT"] == (b"GR\x99SSEC TXT", b"")
    assert raw["åäö.txt"] == (b"\x8f\x8e\x99     TXT", b"")
    assert raw["Õ.TXT"] == (b"_~1     TXT", "Õ.TXT".encode("utf-16-le"))
    assert raw["Ünïcode name.txt"][0] == b"\x9aN_COD~1TXT"  # ï upper-cases to Ï, which cp437 lacks
    assert v.check().clean
    for name in raw:
        assert v.read_bytes(name.upper()) == v.read_bytes(name)


@pytest.mark.parametrize("codepage,name,raw", [
    ("cp850", "Õ.TXT", b"\x05       TXT"),
    ("cp737", "ΑΒΓ.TXT", b"\x80\x81\x82     TXT"),
    ("cp866", "ПРИВЕТ.TXT", b"\x8f\x90\x88\x82\x85\x92  TXT"),
    ("cp852", "ŁÓDŹ.TXT", b"\x9d\xe0D\x8d    TXT"),
])
def test_other_code_pages_hold_their_own_letters(codepage, name, raw):
    disk, v = _volume(codepage=codepage)
    v.write_bytes(name, b"z")
    (e,) = v.scandir("")
    assert (e.name, e.raw_short_name, e.raw_long_name) == (name, raw, b"")
    assert fat.open(disk, codepage=codepage).read_bytes(name.lower()) == b"z"


def test_labels_are_in_the_code_page_too():
    disk = bootmirror.Disk.memory("2 MiB")
    result = fat.format(disk, "FAT12", label="grösse")
    assert result.label == "GRÖSSE"
    v = fat.open(disk)
    assert v.label == "GRÖSSE"
    root, _ = folder_region(v)
    assert disk.read(root, 11) == b"GR\x99SSE     " and disk.read(43, 11) == b"GR\x99SSE     "
    v.label = "éte"
    assert fat.open(disk).label == "ÉTE" and disk.read(43, 11) == b"\x90TE        "
    v.label = "  a b  "  # surrounding spaces are no part of a label (fsck.fat refuses a leading one)
    assert fat.open(disk).label == "A B" and disk.read(43, 11) == b"A B        "
    v.label = "   "
    assert fat.open(disk).label == "" and disk.read(43, 11) == b"NO NAME    "
    assert v.check().clean


def test_a_label_the_code_page_cannot_hold_is_refused_and_nothing_is_written():
    disk = bootmirror.Disk.memory("2 MiB")
    fat.format(disk, "FAT12", label="OLD")
    v = fat.open(disk)
    before = image_digest(disk)
    for bad in ("ĸ", "Õ", "a.b", "twelve chars", "x" * 12):
        with pytest.raises(bootmirror.UsageError):
            v.label = bad
    assert image_digest(disk) == before and v.label == "OLD"
    with pytest.raises(bootmirror.UsageError):
        fat.format(disk, "FAT12", label="Õ")
    assert image_digest(disk) == before


def test_label_bytes_above_0x7f_decode_instead_of_raising():
    disk = bootmirror.Disk.memory("2 MiB")
    fat.format(disk, "FAT12", label="X")
    v = fat.open(disk)
    root, _ = folder_region(v)
    disk.write(root, b"\x80\xff\x05\x01LABEL  ")  # the root folder's label entry
    assert fat.open(disk).label == "Ç\xa0\x05\x01LABEL"
    disk.write(root, b"\xe5")  # no label entry: the boot sector's is used
    disk.write(43, b"\xd5\xe7\xf2       ")  # bytes cp857 leaves undefined
    assert fat.open(disk, codepage="cp857").label == "\udcd5\udce7\udcf2"  # surrogateescape's stand-ins
    assert fat.open(disk, codepage="cp437").label == "╒τ≥"


def test_an_unknown_code_page_is_a_usage_error():
    disk, v = _volume()
    before = image_digest(disk)
    for bad in ("cp1252", "utf-8", "", "cp864"):
        with pytest.raises(bootmirror.UsageError, match="code page"):
            fat.open(disk, codepage=bad)
        with pytest.raises(bootmirror.UsageError, match="code page"):
            fat.format(disk, codepage=bad)
    assert image_digest(disk) == before
    assert fat.open(disk, codepage="CP850").codepage == "cp850"
    assert fat.open(disk, codepage="850").codepage == "cp850"
    assert "cp437" in fat.code_pages() and "cp850" in fat.code_pages() and len(fat.code_pages()) >= 12


# -- every name a listing returns opens the file -------------------------------------------------------
_BASE = None


def _base_image() -> bytes:
    global _BASE
    if _BASE is None:
        disk, v = _volume("1 MiB")
        v.write_bytes("PLACE.TXT", b"payload")
        v.write_bytes("placeholder13", b"long")  # one long-name entry of 13 characters
        _BASE = disk.read(0, disk.size)
    return _BASE


def _fresh_disk():
    image = _base_image()
    disk = bootmirror.Disk.memory(len(image))
    disk.write(0, image)
    return disk


short_base = st.lists(st.sampled_from(ON_DISK_OK + [0x20]), min_size=1, max_size=8).filter(
    lambda b: b[0] != 0x20 and b[0] != 0xE5).map(bytes)
short_ext = st.lists(st.sampled_from(ON_DISK_OK + [0x20]), max_size=3).map(bytes)


@settings(max_examples=400, deadline=None)
@given(codepage=st.sampled_from(fat.code_pages()), base=short_base, ext=short_ext,
       lead_e5=st.booleans())
def test_every_listed_short_name_opens_its_file_in_every_code_page(codepage, base, ext, lead_e5):
    raw = base.rstrip(b" ").ljust(8, b" ") + ext.rstrip(b" ").ljust(3, b" ")
    if lead_e5:
        raw = b"\x05" + raw[1:]
    disk = _fresh_disk()
    v = fat.open(disk)
    _raw_name(disk, v, "PLACE.TXT", raw)
    v = fat.open(disk, codepage=codepage)
    names = v.listdir("")
    entry = next(e for e in v.scandir("") if e.raw_short_name == raw)
    assert entry.name in names
    assert v.read_bytes(entry.name) == b"payload"
    assert v.stat(entry.name).raw_short_name == raw
    ascii_swapped = "".join(c.swapcase() if c.isascii() else c for c in entry.name)
    assert v.read_bytes(ascii_swapped) == b"payload"  # and case-insensitively


long_chars = st.one_of(
    st.integers(0xD800, 0xDFFF),  # lone surrogates, high and low
    st.integers(0x01, 0xFFFD).filter(lambda c: chr(c) not in '/\\' and not 0xD800 <= c <= 0xDFFF),
)


@settings(max_examples=300, deadline=None)
@given(units=st.lists(long_chars, min_size=1, max_size=13).filter(
    lambda u: chr(u[-1]) not in ". " and u[0] != 0x20))
def test_every_listed_long_name_opens_its_file_lone_surrogates_included(units):
    disk = _fresh_disk()
    v = fat.open(disk)
    offset, length = folder_region(v)
    block = bytearray(disk.read(offset, length))
    for i in range(0, length, 32):
        if block[i + 11] == 0x0F:  # the single long-name entry of "placeholder13"
            padded = units + ([0] if len(units) < 13 else []) + [0xFFFF] * 13
            for o, unit in zip(_LFN_CHARS, padded[:13]):
                struct.pack_into("<H", block, i + o, unit)
            break
    disk.write(offset, bytes(block))
    v = fat.open(disk)
    raw = b"".join(struct.pack("<H", u) for u in units)
    entry = next(e for e in v.scandir("") if e.raw_long_name == raw)
    assert entry.name in v.listdir("")
    assert v.read_bytes(entry.name) == b"long"
    assert v.stat(entry.name).raw_long_name == raw
    assert [path for path, dirs, files in v.walk("")] == [""]


def test_lone_surrogate_names_round_trip_and_print_as_replacement_characters():
    disk, v = _volume()
    name = "half \ud83d of a pair.txt"
    v.write_bytes(name, b"emoji")
    v.makedirs("folder \udfff")
    v.write_bytes("folder \udfff/inner.txt", b"in")
    assert v.listdir("") == [name, "folder \udfff"]
    assert v.read_bytes(name) == b"emoji"
    (e,) = [e for e in v.scandir("") if e.name == name]
    assert e.raw_long_name == b"".join(struct.pack("<H", ord(c)) for c in name)
    assert [path for path, dirs, files in v.walk("")] == ["", "folder \udfff"]
    assert v.check().clean
    target_disk, target = _volume()
    listing = fat.run_xcopy(v, "p:\\*.*", target, "s:", "/s")
    assert "half \ufffd of a pair.txt" in listing and "folder \ufffd\\inner.txt" in listing
    listing.encode("utf-8")  # valid UTF-8: no surrogate reaches the text the shell prints
    assert target.read_bytes(name) == b"emoji" and target.read_bytes("folder \udfff/inner.txt") == b"in"
    assert fat.xcopy_listing("p:\\", [name]) == "p:\\half \ufffd of a pair.txt\n1 File(s) copied\n"
    v._repr_html_().encode("utf-8")  # what Jupyter shows is UTF-8 too
    assert "half \ufffd of a pair.txt" in v._repr_html_()

"""bootmirror.nvram: OVMF's variable store, boot entries, device paths and Windows' OS options,
through the Python API. Outside readers (virt-fw-vars) are in interop/test_nvram_virt_fw_vars.py,
power cuts in crash/test_crash_nvram.py."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import bootmirror
from bootmirror import Disk, nvram

TEMPLATE_4M = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
TEMPLATE_2M = Path("/usr/share/OVMF/OVMF_VARS.fd")
VENDOR = "11111111-2222-3333-4444-555555555555"
ESP = "476688c5-8ebf-47d2-80e7-cf9d065edb81"
SPEC_EXAMPLE = r"HD(1,GPT,476688C5-8EBF-47D2-80E7-CF9D065EDB81,0x22,0x66000)/\EFI\Microsoft\WINNT50\ia64ldr.efi"


@pytest.fixture
def store(tmp_path) -> nvram.Store:
    return nvram.create_store(tmp_path / "vars.fd")


def test_templates_hold_no_variables():
    for template, size in ((TEMPLATE_4M, 0x3FFB8), (TEMPLATE_2M, 0xDFB8)):
        s = nvram.Store.open(template)
        assert s.variables() == [] and s.records() == []
        assert s.engine.store_size == size and s.engine.authenticated and not s.writable
        assert s.boot_entries() == [] and s.boot_order == [] and s.timeout is None


def test_create_store_copies_the_template_and_refuses_an_existing_file(tmp_path):
    s = nvram.create_store(tmp_path / "vars.fd")
    assert s.writable and Path(s.path) == tmp_path / "vars.fd"
    assert (tmp_path / "vars.fd").read_bytes() == TEMPLATE_4M.read_bytes()
    with pytest.raises(FileExistsError):
        nvram.create_store(tmp_path / "vars.fd")
    assert nvram.create_store(tmp_path / "small.fd", TEMPLATE_2M).engine.store_size == 0xDFB8


def test_set_get_delete(store):
    store.set("Hello", b"world", guid=VENDOR)
    v = store.get("Hello", VENDOR)
    assert (v.name, v.guid, v.attributes, v.data) == ("Hello", VENDOR, nvram.DEFAULT_ATTRIBUTES, b"world")
    assert store.get("Hello") is None  # another vendor
    store.set("Hello", b"again", guid=VENDOR)
    assert [r.kind for r in store.records()] == ["deleted", "added"]
    again = nvram.Store.open(store.path)
    assert again.get("Hello", VENDOR).data == b"again"
    assert store.delete("Hello", VENDOR) and not store.delete("Hello", VENDOR)
    assert nvram.Store.open(store.path).variables() == []


def test_a_variable_keeps_its_attributes_until_deleted(store):
    # UEFI: "If a preexisting variable is rewritten with different attributes, SetVariable() shall
    # not modify the variable and shall return EFI_INVALID_PARAMETER" (EDK2 does so too).
    store.set("Hello", b"world", attributes=nvram.NV | nvram.BS, guid=VENDOR)
    before = Path(store.path).read_bytes()
    for data in (b"world", b"other"):
        with pytest.raises(bootmirror.UsageError, match=r"Hello exists with attributes 0x3.*0x7"):
            store.set("Hello", data, guid=VENDOR)
    assert Path(store.path).read_bytes() == before
    store.set("Hello", b"other", attributes=nvram.NV | nvram.BS, guid=VENDOR)
    assert store.delete("Hello", VENDOR)
    store.set("Hello", b"again", guid=VENDOR)
    assert store.get("Hello", VENDOR).attributes == nvram.DEFAULT_ATTRIBUTES


def test_names_beyond_ascii_and_lone_surrogates_round_trip(store):
    for name in ("Grüße", "名前", "\ud800x"):
        store.set(name, b"1", guid=VENDOR)
        assert store.get(name, VENDOR).data == b"1"
    assert {v.name for v in nvram.Store.open(store.path).variables()} == {"Grüße", "名前", "\ud800x"}


def test_boot_entries_order_next_timeout(store):
    path = nvram.DevicePath.parse(rf"HD(1,GPT,{ESP},0x800,0x14000)/\EFI\Microsoft\Boot\test.efi")
    a = store.add_boot_entry("bootmirror A", path)
    b = store.add_boot_entry("bootmirror B", str(path), active=False)
    assert (a, b) == (0, 1)
    store.boot_order = [b, a]
    store.boot_next = a
    store.timeout = 30
    s = nvram.Store.open(store.path)
    entries = s.boot_entries()
    assert [(e.number, e.name, e.description, e.active) for e in entries] == [
        (0, "Boot0000", "bootmirror A", True), (1, "Boot0001", "bootmirror B", False)]
    assert entries[0].device_path == path
    assert str(entries[0].device_path) == rf"HD(1,GPT,{ESP.upper()},0x800,0x14000)/\EFI\Microsoft\Boot\test.efi"
    assert entries[0].device_path.hard_drive.partition_guid == ESP
    assert entries[0].device_path.file_path == r"\EFI\Microsoft\Boot\test.efi"
    assert entries[0].windows_options is None
    assert (s.boot_order, s.boot_next, s.timeout, s.boot_current) == ([1, 0], 0, 30, None)
    assert s.get("BootOrder").data == struct.pack("<2H", 1, 0)
    store.boot_next = None
    store.boot_order = []
    assert store.get("BootNext") is None and store.get("BootOrder") is None
    assert store.delete_boot_entry(1) and [e.number for e in store.boot_entries()] == [0]
    store.boot_order = [0, 1]  # a number whose Boot#### is gone, and one deleted now: it leaves BootOrder
    assert store.delete_boot_entry(0) and store.boot_order == [1] and not store.delete_boot_entry(0)
    assert nvram.boot_variable_name(0xAB) == "Boot00AB" and nvram.boot_number("Boot00AB") == 0xAB
    assert nvram.boot_number("Boot00ab") is None and nvram.boot_number("BootOrder") is None


def test_windows_os_options(store):
    os_path = nvram.DevicePath.parse(rf"HD(2,GPT,{VENDOR},0x66022,0x9000)/\WINDOWS")
    options = nvram.WindowsOsOptions.efi("/fastdetect", os_path)
    data = options.encode()
    assert data[:8] == b"WINDOWS\0" and struct.unpack_from("<III", data, 8) == (1, len(data), 44)
    assert struct.unpack_from("<III", data, 44) == (1, len(data) - 44, 4)
    n = store.add_boot_entry("Windows Server 2003, Enterprise", SPEC_EXAMPLE, optional_data=data)
    entry = nvram.Store.open(store.path).boot_entry(n)
    w = entry.windows_options
    assert (w.version, w.os_load_options, w.os_load_path_type) == (1, "/fastdetect", 4)
    assert w.os_load_path == os_path and str(w.os_load_path).endswith(r"/\WINDOWS")
    assert nvram.WindowsOsOptions.decode(data) == options
    assert not nvram.WindowsOsOptions.present_in(b"\x4e\xac\x08\x81")


def test_errors_in_global_variables_name_the_store_and_point_into_it(store):
    os_path = nvram.DevicePath.parse(rf"HD(2,GPT,{VENDOR},0x66022,0x9000)/\WINDOWS")
    good = nvram.WindowsOsOptions.efi("/fastdetect", os_path).encode()
    long_length = good[:12] + struct.pack("<I", len(good) + 1) + good[16:]
    nt_path = good[:52] + struct.pack("<I", 3) + good[56:]  # FILE_PATH.Type 3 (NT) at 44 + 8
    for data in (long_length, nt_path):
        n = store.add_boot_entry("Windows", SPEC_EXAMPLE, optional_data=data)
    image = Path(store.path).read_bytes()
    at_long, at_nt = image.index(long_length), image.index(nt_path)
    entries = nvram.Store.open(store.path).boot_entries()
    with pytest.raises(bootmirror.FormatError, match=rf"^Boot{n - 1:04X}: Windows OS options: Length") as e:
        entries[-2].windows_options
    assert e.value.offset == at_long + 12
    with pytest.raises(bootmirror.FormatError, match="FILE_PATH type 3") as e:
        entries[-1].windows_options.os_load_path
    assert e.value.offset == at_nt + 52
    for name, value in (("BootOrder", b"\x01\x00\x02"), ("Timeout", b"\x05\x00\x00")):
        store.set(name, value, guid=nvram.GLOBAL)
        image = Path(store.path).read_bytes()
        with pytest.raises(bootmirror.FormatError, match=rf"^{store.path}: {name}: 3 bytes") as e:
            getattr(nvram.Store.open(store.path), name.lower().replace("bootorder", "boot_order"))
        assert e.value.offset == image.rindex(value)


def test_spec_example_text_round_trips():
    path = nvram.DevicePath.parse(SPEC_EXAMPLE)
    assert str(path) == SPEC_EXAMPLE
    assert [(n.type, n.subtype) for n in path.nodes] == [(4, 1), (4, 4)]
    hd = path.nodes[0].hard_drive
    assert (hd.partition_number, hd.start_lba, hd.size_lba, hd.partition_format, hd.signature_type) == (1, 0x22, 0x66000, 2, 2)
    assert nvram.DevicePath.decode(path.encode()) == path
    assert nvram.HardDrive.gpt(1, 0x22, 0x66000, ESP) == hd


@pytest.mark.parametrize("text", [
    "PciRoot(0x0)/Pci(0x2,0x0)", "PciRoot(0x0)/Pci(0x1f,0x2)/Sata(0x0,0xffff,0x0)", "Uri(https://example.com/a/b.iso)",
    "PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400123456,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)",
    "VenHw(93E34C7E-B50E-11DF-9223-2443DFD72085,00)", "Path(6,1,0102)", "HD(1,MBR,0xdeadbeef,0x800,0x1000)",
])
def test_device_path_text_round_trips(text):
    path = nvram.DevicePath.parse(text)
    assert str(path) == text
    assert nvram.DevicePath.decode(path.encode()) == path


nodes = st.builds(lambda t, s, d: nvram.DevicePathNode(t, s, d), st.sampled_from([1, 2, 3, 4, 5, 0x20]),
                  st.integers(0, 0x20), st.binary(max_size=48))


@settings(max_examples=300, deadline=None)
@given(st.lists(nodes, max_size=5))
def test_any_device_path_prints_and_parses_back(node_list):
    try:
        path = nvram.DevicePath(node_list)
        encoded = path.encode()
        decoded = nvram.DevicePath.decode(encoded)
    except bootmirror.FormatError:
        return  # a Hard Drive or File Path node whose bytes do not fit its kind
    assert nvram.DevicePath.parse(str(decoded)) == decoded


@pytest.mark.parametrize("names", [("\\EFI\\old(", "boot.efi"), ("\\a(b", "c.efi"), ("\\a)b", "c.efi")])
def test_a_file_name_with_a_lone_parenthesis_round_trips(names):
    """A path is split at the '/' outside parentheses: a file path node printed as "\\EFI\\old("
    swallowed the nodes after it when parsed back. Such a node prints in the generic form."""
    path = nvram.DevicePath([nvram.DevicePathNode.from_file_path(n) for n in names])
    assert nvram.DevicePath.parse(path.to_text()) == path


def test_load_option_encoding():
    option = nvram.LoadOption("Désc", SPEC_EXAMPLE, nvram.LOAD_OPTION_ACTIVE, b"\x01\x02")
    data = option.encode()
    assert struct.unpack_from("<IH", data) == (1, 120)
    assert data[6:16] == "Désc\0".encode("utf-16-le")
    back = nvram.LoadOption.decode(data)
    assert back == option and back.optional_data == b"\x01\x02" and back.device_path == nvram.DevicePath.parse(SPEC_EXAMPLE)


# -- bad input: FormatError naming what and where, nothing written -------------------------------

def _damaged(tmp_path, offset: int, data: bytes, template=TEMPLATE_2M, prepare=None) -> Path:
    path = tmp_path / "damaged.fd"
    path.write_bytes(template.read_bytes())
    if prepare:
        prepare(nvram.Store.open(path, writable=True))
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(raw)
    return path


def _with_variable(s: nvram.Store) -> None:
    s.set("Name", b"data", guid=VENDOR)


@pytest.mark.parametrize("offset, data, at, words", [
    (0x32, b"\0\0", 0x32, "checksum"),
    (0x28, b"_FVX", 0x28, "_FVH"),
    (0x20, struct.pack("<Q", 1 << 40), 0x20, "FvLength"),
    (0x48, bytes(16), 0x48, "signature"),
    (0x48 + 16, struct.pack("<I", 0x7FFFFFFF), 0x48 + 16, "Size"),
    (0x64 + 40, struct.pack("<I", 0xFFFFFF00), 0x64 + 36, "DataSize"),
    (0x64 + 36, struct.pack("<I", 0xFFFFFFF0), 0x64 + 36, "NameSize"),
    (0x64 + 36, struct.pack("<I", 9), 0x64 + 36, "odd"),
])
def test_damaged_stores_raise_format_error_and_stay_unchanged(tmp_path, offset, data, at, words):
    path = _damaged(tmp_path, offset, data, prepare=_with_variable)
    before = path.read_bytes()
    with pytest.raises(bootmirror.FormatError) as info:
        nvram.Store.open(path, writable=True)
    assert info.value.offset == at and words in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before


def test_truncated_file(tmp_path):
    path = tmp_path / "short.fd"
    path.write_bytes(TEMPLATE_2M.read_bytes()[:60])
    with pytest.raises(bootmirror.FormatError):
        nvram.Store.open(path)
    path.write_bytes(TEMPLATE_2M.read_bytes()[:0x1000])
    with pytest.raises(bootmirror.FormatError, match="FvLength"):
        nvram.Store.open(path)


def test_bad_values_raise_format_error_not_python_errors(store):
    with pytest.raises(bootmirror.FormatError, match="End node"):
        nvram.DevicePath.decode(b"\x04\x04\x06\x00a\x00")
    with pytest.raises(bootmirror.FormatError, match="Length 2"):
        nvram.DevicePath.decode(b"\x04\x04\x02\x00")
    with pytest.raises(bootmirror.FormatError, match="FilePathListLength"):
        nvram.LoadOption.decode(struct.pack("<IH", 1, 400) + "x\0".encode("utf-16-le") + b"\x7f\xff\x04\x00")
    with pytest.raises(bootmirror.FormatError, match="odd byte"):
        nvram.LoadOption.decode(struct.pack("<IH", 1, 0) + b"A\x00B")
    with pytest.raises(bootmirror.FormatError, match="odd count"):
        nvram.DevicePath.decode(b"\x04\x04\x07\x00abc\x7f\xff\x04\x00")
    # A Boot#### whose value is not a load option: listing the entries names it.
    store.set("Boot0005", b"\x01\x00\x00\x00\xff\xff", guid=nvram.GLOBAL)
    with pytest.raises(bootmirror.FormatError, match="Boot0005"):
        store.boot_entries()
    store.set("BootOrder", b"\x01", guid=nvram.GLOBAL)
    with pytest.raises(bootmirror.FormatError, match="BootOrder"):
        store.boot_order
    store.set("Timeout", b"\x01\x02\x03\x04", guid=nvram.GLOBAL)
    with pytest.raises(bootmirror.FormatError, match="Timeout"):
        store.timeout


def test_bad_arguments_raise_usage_error(store):
    with pytest.raises(bootmirror.UsageError):
        nvram.DevicePath.parse("HD(1,GPT,zzz,0x1,0x2)")
    with pytest.raises(bootmirror.UsageError):
        store.set("X", b"", guid=VENDOR)
    with pytest.raises(bootmirror.UsageError):
        store.set("X", b"x", attributes=nvram.BS | nvram.RT, guid=VENDOR)
    with pytest.raises(bootmirror.UsageError):
        store.set("X", b"x", guid="not a guid")
    with pytest.raises(bootmirror.UsageError):
        nvram.Store.open(TEMPLATE_2M).set("X", b"x")


# -- reclaim -------------------------------------------------------------------------------------

def test_full_store_is_reclaimed_by_replacing_the_file(tmp_path):
    s = nvram.create_store(tmp_path / "vars.fd", TEMPLATE_2M)
    outside = (tmp_path / "vars.fd").read_bytes()[0xE000:]
    s.set("Keep", b"kept", guid=VENDOR)
    for i in range(40):
        s.set("Big", bytes([i]) * 3000, guid=VENDOR)
    reread = nvram.Store.open(tmp_path / "vars.fd")
    assert reread.get("Big", VENDOR).data == bytes([39]) * 3000 and reread.get("Keep", VENDOR).data == b"kept"
    assert (tmp_path / "vars.fd").read_bytes()[0xE000:] == outside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vars.fd"]
    s.reclaim()
    assert [r.kind for r in nvram.Store.open(tmp_path / "vars.fd").records()] == ["added", "added"]


def test_too_big_even_after_reclaim_writes_nothing(tmp_path):
    s = nvram.create_store(tmp_path / "vars.fd", TEMPLATE_2M)
    before = (tmp_path / "vars.fd").read_bytes()
    with pytest.raises(bootmirror.UsageError, match="even after a reclaim"):
        s.set("Huge", bytes(0xE000), guid=VENDOR)
    assert (tmp_path / "vars.fd").read_bytes() == before


def test_store_on_a_disk(tmp_path):
    disk = Disk.memory(len(TEMPLATE_2M.read_bytes()))
    disk.write(0, TEMPLATE_2M.read_bytes())
    s = nvram.Store.from_disk(disk)
    assert s.path is None
    s.set("OnDisk", b"yes", guid=VENDOR)
    assert nvram.Store.from_disk(disk).get("OnDisk", VENDOR).data == b"yes"
    for _ in range(6):
        s.set("Big", bytes(8000), guid=VENDOR)
        s.delete("Big", VENDOR)
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError, match="reclaim"):
        s.set("Big", bytes(8000), guid=VENDOR)
    assert disk.read(0, disk.size) == before


@pytest.mark.parametrize("device_path", [5, b"ab", [1, 2], None])
def test_a_load_option_given_no_device_path_is_a_usage_error(device_path):
    with pytest.raises(bootmirror.UsageError):  # was pybind11's RuntimeError from its cast
        nvram.LoadOption("x", device_path)

"""The block-device layer through the Python API: Disk, FaultyDisk, slices, sizes, errors."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

import bootmirror
from bootmirror import Disk, FaultyDisk, FormatError, UsageError


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_create_makes_a_sparse_image(tmp_path):
    path = tmp_path / "big.img"
    with Disk.create(path, "10 GiB") as disk:
        assert disk.size == 10 * 2**30
        assert disk.sector_size == 512
        assert disk.sector_count == 10 * 2**30 // 512
        assert disk.path == str(path)
        assert disk.writable
        disk.write(300 * 2**20, os.urandom(1 << 20))
        assert disk.allocated_bytes == 1 << 20
    assert path.stat().st_size == 10 * 2**30
    assert path.stat().st_blocks * 512 < 4 * 2**20  # only what was written costs space


@pytest.mark.parametrize("size, expected", [(4096, 4096), ("204 MiB", 204 << 20), ("204 MB", 204 << 20),
                                            ("10 GB", 10 << 30), ("1.5 GiB", 3 << 29), ("64K", 65536)])
def test_sizes_accept_ints_and_strings(tmp_path, size, expected):
    with Disk.create(tmp_path / "s.img", size) as disk:
        assert disk.size == expected
    assert bootmirror.parse_size(size) == expected


@pytest.mark.parametrize("size", ["", "ten", "12 XB", "-5", -5, 0, 1000, "0.3 KB", 2.5, None, True])
def test_bad_sizes_raise_usage_error_and_write_nothing(tmp_path, size):
    with pytest.raises(UsageError):
        Disk.create(tmp_path / "bad.img", size)
    assert not (tmp_path / "bad.img").exists()


def test_4k_sectors(tmp_path):
    with Disk.create(tmp_path / "4k.img", "1 MiB", sector_size=4096) as disk:
        assert disk.sector_size == 4096
        assert disk.sector_count == 256
    with Disk.open(tmp_path / "4k.img", sector_size=4096) as disk:
        assert disk.sector_size == 4096
    with pytest.raises(UsageError, match="sector size"):
        Disk.create(tmp_path / "odd.img", "1 MiB", sector_size=1024)


def test_open_is_read_only_by_default(tmp_path):
    path = tmp_path / "ro.img"
    Disk.create(path, "1 MiB").close()
    before = digest(path)
    with Disk.open(path) as disk:
        assert not disk.writable
        with pytest.raises(UsageError, match="read-only"):
            disk.write(0, b"x")
    assert digest(path) == before
    with Disk.open(path, writable=True) as disk:
        disk.write(0, b"x")
    assert digest(path) != before


def test_read_write_round_trip_and_buffers(tmp_path):
    with Disk.create(tmp_path / "rw.img", "1 MiB") as disk:
        payload = os.urandom(10_000)
        disk.write(12345, payload)
        assert disk.read(12345, 10_000) == payload
        disk.write(0, bytearray(b"abc"))
        disk.write(3, memoryview(b"defgh")[1:4])
        assert disk.read(0, 6) == b"abcefg"
        target = bytearray(10_000)
        assert disk.readinto(12345, target) == 10_000
        assert bytes(target) == payload
        view = memoryview(bytearray(100))
        disk.readinto(12345, view[10:60])
        assert bytes(view[10:60]) == payload[:50]
        with pytest.raises(UsageError, match="contiguous"):
            disk.write(0, memoryview(b"abcdef")[::2])


def test_out_of_range_access_is_refused_and_writes_nothing(tmp_path):
    path = tmp_path / "r.img"
    with Disk.create(path, 8192) as disk:
        with pytest.raises(UsageError, match="8192 bytes"):
            disk.read(8190, 4)
        with pytest.raises(UsageError):
            disk.write(8192, b"x")
        with pytest.raises(UsageError):
            disk.write(8000, b"y" * 500)
        with pytest.raises(UsageError, match="negative"):
            disk.read(-1, 1)
    assert path.read_bytes() == bytes(8192)


def test_os_failures_are_oserrors_with_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        Disk.open(tmp_path / "missing.img")
    assert info.value.filename == str(tmp_path / "missing.img")
    assert info.value.errno == errno.ENOENT
    Disk.create(tmp_path / "exists.img", 4096).close()
    with pytest.raises(FileExistsError):
        Disk.create(tmp_path / "exists.img", 4096)
    with pytest.raises(FileNotFoundError):
        Disk.create(tmp_path / "no" / "such" / "folder.img", 4096)
    with pytest.raises(UsageError, match="neither"):
        Disk.open(tmp_path)


def test_devices_under_dev_are_protected(tmp_path):
    with pytest.raises(UsageError, match="/dev"):
        Disk.create("/dev/bootmirror-new.img", 4096)
    assert not os.path.exists("/dev/bootmirror-new.img")
    block = next((f"/dev/{n}" for n in sorted(os.listdir("/dev"))
                  if stat.S_ISBLK(os.stat(f"/dev/{n}").st_mode)), None)
    assert block is not None, "this machine has no block device to test the refusal on"
    with pytest.raises(UsageError, match="allow_device"):
        Disk.open(block, writable=True)


def test_closed_disk_refuses_io(tmp_path):
    disk = Disk.create(tmp_path / "c.img", 4096)
    disk.close()
    with pytest.raises(UsageError, match="closed"):
        disk.read(0, 1)


def test_memory_disk_and_slices():
    disk = Disk.memory("1 MiB")
    part = disk.slice(65536, 8192)
    assert part.size == 8192 and part.sector_size == 512
    part.write(100, b"inside")
    assert disk.read(65636, 6) == b"inside"
    assert part.allocated_extents() == [(0, 512)]
    with pytest.raises(UsageError):
        part.write(8190, b"xyz")
    with pytest.raises(UsageError):
        disk.slice(2**20 - 10, 20)
    assert disk.read(0, 65536) == bytes(65536)


def test_faulty_disk_io_errors_on_ranges():
    disk = Disk.memory("1 MiB")
    faulty = FaultyDisk(disk)
    faulty.fail_range(4096, 512, access="read")
    with pytest.raises(OSError) as info:
        faulty.read(4000, 200)
    assert info.value.errno == errno.EIO
    faulty.write(4096, b"w" * 512)  # writes to that range still work
    assert disk.read(4096, 3) == b"www"
    faulty.fail_range(0, 10, access="write")
    with pytest.raises(OSError):
        faulty.write(5, b"x")
    faulty.clear_faults()
    assert faulty.read(4096, 3) == b"www"
    with pytest.raises(UsageError):
        faulty.fail_range(0, 1, access="sometimes")


def test_faulty_disk_power_cut_drops_later_writes():
    disk = Disk.memory("1 MiB")
    faulty = FaultyDisk(disk)
    faulty.cut_power_after(3)
    for i in range(6):
        faulty.write(i * 512, bytes([i + 1]) * 512)
    assert faulty.power_lost
    assert (faulty.writes_seen, faulty.writes_applied) == (6, 3)
    assert [disk.read(i * 512, 1)[0] for i in range(6)] == [1, 2, 3, 0, 0, 0]
    faulty.flush()  # no error: the software has not noticed yet


def test_a_crash_state_applies_to_a_disk_that_records_into_its_own_log():
    """CrashState.apply held the log's lock while writing: a FaultyDisk recording into that same
    log took the lock again and hung for ever."""
    from bootmirror.crash import WriteLog
    log = WriteLog()
    faulty = FaultyDisk(Disk.memory("1 MiB"), log=log)
    faulty.write(0, b"x" * 512)
    faulty.flush()
    state = [s for s in log.crash_states() if "whole" in repr(s)][-1]
    state.apply([faulty])
    assert faulty.read(0, 512) == b"x" * 512


def test_crash_log_arguments_out_of_range_are_usage_errors():
    from bootmirror.crash import WriteLog
    log = WriteLog()
    for call, what in ((lambda: log.crash(-1), "point"), (lambda: log.crash(0, seed=1 << 64), "seed"),
                       (lambda: log.describe_event(-1), "index"), (lambda: log.crash_states(-1), "random_per_point"),
                       # 2**63 random subsets a point ran for ever, and Ctrl-C could not stop it
                       (lambda: log.crash_states(1 << 63), "random_per_point"),
                       (lambda: log.record(Disk.memory("64 KiB")), "only a FaultyDisk"),
                       (lambda: bootmirror.deterministic(1 << 64), "seed"),
                       (lambda: bootmirror.deterministic(0, epoch=1 << 63), "epoch")):
        with pytest.raises(bootmirror.UsageError, match=what):
            call()
    assert len(log.crash_states(1 << 16)) == 1  # the empty log's one state, whatever the count


def test_an_image_shorter_than_a_sector_shows_no_table(tmp_path):
    path = tmp_path / "short.img"
    path.write_bytes(bytes(100))
    disk = Disk.open(path)
    assert disk.partitions == [] and bootmirror.gpt.style(disk) == "raw"
    assert "short.img" in disk._repr_html_()


def test_a_power_cut_beyond_any_write_never_comes():
    faulty = FaultyDisk(Disk.memory("64 KiB"))
    faulty.write(0, b"a")
    faulty.cut_power_after(2**64 - 1)  # writes seen + this wrapped: the power went at once
    faulty.write(512, b"b")
    assert not faulty.power_lost and faulty.read(512, 1) == b"b"


def test_closing_inside_a_with_block_is_fine(tmp_path):
    with Disk.create(tmp_path / "c.img", "1 MiB") as disk:
        disk.write(0, b"x")
        disk.close()  # __exit__ then flushed a closed image: UsageError
        assert disk.closed
    assert Disk.open(tmp_path / "c.img").read(0, 1) == b"x"


def test_faulty_disk_missing():
    faulty = FaultyDisk(Disk.memory("64 KiB"))
    faulty.missing = True
    with pytest.raises(OSError) as info:
        faulty.read(0, 1)
    assert info.value.errno == errno.ENODEV
    with pytest.raises(OSError):
        faulty.write(0, b"x")
    faulty.missing = False
    assert faulty.read(0, 1) == b"\0"


def test_disk_repr_and_html(tmp_path):
    with Disk.create(tmp_path / "r.img", "204 MiB") as disk:
        assert "204 MiB" in repr(disk) and "r.img" in repr(disk)
        assert "<table>" in disk._repr_html_()
    assert "memory disk" in repr(Disk.memory("1 MiB"))


def test_disk_needs_a_block_device():
    with pytest.raises(UsageError):
        Disk("not a device")


def test_images_in_dev_shm_are_ordinary_files():
    path = f"/dev/shm/bootmirror-test-{os.getpid()}.img"
    try:
        with Disk.create(path, "1 MiB") as disk:
            disk.write(0, b"ok")
        with Disk.open(path, writable=True) as disk:
            assert disk.read(0, 2) == b"ok"
    finally:
        if os.path.exists(path):
            os.remove(path)


@pytest.mark.parametrize("call", [
    lambda d: d.slice(-1, 10),
    lambda d: d.slice(0, -10),
    lambda d: d.read(-512, 10),
    lambda d: d.read(0, -1),
    lambda d: d.read(0, 1 << 62),
    lambda d: d.readinto(-1, bytearray(4)),
    lambda d: d.write(-1, b"x"),
    lambda d: d.slice(1 << 70, 1),
    lambda d: bootmirror.FaultyDisk(d).fail_range(-5, 1),
    lambda d: bootmirror.FaultyDisk(d).cut_power_after(-1),
    lambda d: d.delete_partition(-1),
    lambda d: bootmirror.Disk.memory(1 << 64),
    lambda d: bootmirror.Disk.memory(1 << 63),  # more than a vector holds: was a ValueError
    lambda d: bootmirror.Disk.memory(4096, -1),  # was pybind11's TypeError
    lambda d: bootmirror.parse_size(1 << 70),  # was a RuntimeError
    lambda d: bootmirror.Disk.overlay(d).device.changed_extents(0),  # a granule of 0 looped for ever
    lambda d: bootmirror.Disk.overlay(d).device.changed_extents(3),
    lambda d: d.readinto(0, b"abcd"),  # read-only: was Python's BufferError
    lambda d: d.readinto(0, memoryview(bytearray(4)).toreadonly()),
])
def test_negative_and_huge_numbers_are_usage_errors(call):
    disk = bootmirror.Disk.memory("1 MiB")
    before = disk.read(0, disk.size)
    with pytest.raises(bootmirror.UsageError):
        call(disk)
    assert disk.read(0, disk.size) == before


def test_an_image_path_that_is_no_utf8_comes_back_as_os_fsdecode_gives_it(tmp_path):
    raw = os.fsencode(tmp_path) + b"/disk-\xff.img"
    with Disk.create(os.fsdecode(raw), "1 MiB") as disk:
        assert disk.path == os.fsdecode(raw) and os.fsencode(disk.path) == raw
        assert repr(disk) and disk.name == disk.path
    with pytest.raises(FileExistsError) as info:
        Disk.create(os.fsdecode(raw), "1 MiB")
    assert os.fsencode(info.value.filename) == raw

"""Several Python threads on one fat.Volume (the bindings release the GIL): one lock serialises
every call, files included, so the volume ends consistent (check() and fsck.fat -n clean) and
every thread reads back what it wrote."""

from __future__ import annotations

import random
import threading

import pytest

import bootmirror
from bootmirror import fat
from fat_helpers import assert_fsck_clean

MiB = 1024 * 1024
THREADS = 4


def _run(workers):
    errors = []

    def guard(work, n):
        try:
            work(n)
        except BaseException as e:  # noqa: BLE001 - reported below, with the thread's number
            errors.append((n, e))

    threads = [threading.Thread(target=guard, args=(w, n)) for n, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hangs: a deadlock"
    assert not errors, errors


@pytest.mark.parametrize("fs,size", [("FAT16", 64 * MiB), ("FAT32", 96 * MiB)])
def test_threads_writing_and_reading_one_volume(tmp_path, fs, size):
    image = tmp_path / "shared.img"
    with bootmirror.Disk.create(image, size) as disk:
        fat.format(disk, fs)
        v = fat.open(disk)
        v.makedirs("shared")

        def worker(n):
            rnd = random.Random(n)
            mine = {}
            v.makedirs(f"t{n}/deep/er")
            for i in range(150):
                path = f"t{n}/deep/er/file with a long name {i:03}.bin" if i % 3 else f"shared/T{n}_{i}.DAT"
                data = rnd.randbytes(rnd.randint(0, 9000))
                v.write_bytes(path, data)
                mine[path] = data
                if i % 10 == 0:  # a file written through a file object, grown in pieces
                    with v.open(f"t{n}/stream {i}.log", "wb") as f:
                        for k in range(5):
                            f.write(bytes([k]) * 1000)
                    mine[f"t{n}/stream {i}.log"] = b"".join(bytes([k]) * 1000 for k in range(5))
                if i % 7 == 0 and mine:
                    victim = rnd.choice(sorted(mine))
                    v.remove(victim)
                    del mine[victim]
                if i % 11 == 0:
                    v.listdir("shared"), list(v.walk()), v.free_bytes
                candidates = sorted(p for p in mine if p.startswith(f"t{n}/deep/"))
                if i % 13 == 0 and candidates:
                    old = rnd.choice(candidates)
                    new = f"t{n}/renamed {i}.bin"
                    v.rename(old, new)
                    mine[new] = mine.pop(old)
            for path, data in mine.items():
                assert v.read_bytes(path) == data, path
            assert sorted(v.listdir(f"t{n}/deep/er")) == sorted(
                p.rsplit("/", 1)[1] for p in mine if p.startswith(f"t{n}/deep/er/"))

        _run([worker] * THREADS)
        report = v.check()
        assert report.clean, report.problems
        v.flush()
    assert_fsck_clean(image)


def test_threads_sharing_one_open_file():
    disk = bootmirror.Disk.memory(32 * MiB)
    fat.format(disk)
    v = fat.open(disk)
    handle = v.engine.open_file("log.bin", True, True, True)
    record = bytes(range(256)) * 4

    def writer(n):
        for i in range(200):
            handle.write((n * 200 + i) * len(record), record)

    def reader(n):
        for _ in range(400):
            data = handle.read(0, handle.size)
            # Each write is whole under the lock: every record-sized piece is a record, or a hole
            # (zeros) another writer has not filled yet; never half of one.
            assert len(data) % len(record) == 0
            for at in range(0, len(data), len(record)):
                assert data[at:at + len(record)] in (record, bytes(len(record)))

    _run([writer, writer, reader])
    handle.close()
    data = v.read_bytes("log.bin")
    assert len(data) == 400 * len(record) and data == record * 400
    assert v.check().clean


def test_closing_a_file_while_another_thread_reads_it():
    disk = bootmirror.Disk.memory(16 * MiB)
    fat.format(disk)
    v = fat.open(disk)
    v.write_bytes("data.bin", b"d" * 200000)
    for _ in range(20):
        handle = v.engine.open_file("data.bin", False, False, False)
        outcome = []

        def read(n):
            for _ in range(200):
                try:
                    assert handle.read(0, 200000) == b"d" * 200000
                except bootmirror.UsageError:  # closed under it: a clear error, never a crash
                    outcome.append("closed")
                    return

        def close(n):
            handle.close()

        _run([read, close])
        assert handle.closed


def test_copies_in_opposite_directions_do_not_deadlock():
    a_disk, b_disk = bootmirror.Disk.memory(32 * MiB), bootmirror.Disk.memory(32 * MiB)
    fat.format(a_disk)
    fat.format(b_disk)
    a, b = fat.open(a_disk), fat.open(b_disk)
    a.makedirs("from a")
    b.makedirs("from b")
    for i in range(30):
        a.write_bytes(f"from a/file {i}.txt", b"a" * 3000)
        b.write_bytes(f"from b/file {i}.txt", b"b" * 3000)

    def a_to_b(n):
        for k in range(15):
            fat.copy_tree(a, "from a", b, f"copies of a/{k}")

    def b_to_a(n):
        for k in range(15):
            fat.copy_tree(b, "from b", a, f"copies of b/{k}")

    _run([a_to_b, b_to_a])
    assert a.check().clean and b.check().clean
    assert len(b.listdir("copies of a")) == 15 and len(a.listdir("copies of b/14")) == 30


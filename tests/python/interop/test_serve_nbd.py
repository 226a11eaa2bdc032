"""bootmirror serve (issue 14, "Export volumes"): a machine's volume over NBD through nbdkit's
Python plugin, read by QEMU's and libnbd's tools. qemu-img compares the export with each plex's
own bytes in the disk images (the extent the LDM records name, read by qemu-img from the image
file, not through bootmirror); a mirror whose disk is gone is served from the plex left; nbdinfo
sees the volume's size and a read-only export; the server itself refuses a write from a client
that ignores the read-only flag, and a read-only export leaves every file of the machine as it
was. A writable export writes every plex of a mirror."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import bootmirror
from bootmirror import serve
from conftest import require_tool, run_tool
from ldm_helpers import dynamic_boot_machine

# nbdkit runs our extension in its own process: the sanitizer run leaves these out, as it does QEMU.
pytestmark = pytest.mark.nbdkit

MiB = 1 << 20
KERNEL = b"kernel" * 200_000


def mirrored_machine(tmp_path: Path) -> Path:
    """The runbook's machine with C: mirrored on disks 0 and 1 (FAT, a file on it), closed."""
    folder = tmp_path / "lab"
    m = dynamic_boot_machine(folder)
    m.diskpart("select volume c\nadd disk=1", check=True)
    m.format("c:", "/fs:fat /q /y")
    c = m.volume("c:")
    c.makedirs("WINDOWS/system32")
    c.write_bytes("WINDOWS/system32/ntoskrnl.exe", KERNEL)
    c.flush()
    del c
    assert m.wait(timeout=60)
    m.close()
    return folder


def plex_extents(folder: Path) -> List[Tuple[str, int, int]]:
    """(image, byte offset, bytes) of each plex of the machine's one dynamic volume, as its LDM
    records place it: a simple plex is one partition, so this extent holds all of its bytes."""
    with bootmirror.Machine.open(folder) as m:
        (volume,) = m.volumes
        out = []
        for plex in volume.plexes:
            (part,) = plex.partitions
            out.append((part.disk.disk.path, part.offset, volume.size_bytes))
        return out


def image_extent(path: str, offset: int, size: int) -> str:
    """qemu's name for `size` bytes of a raw image from `offset` (its raw driver's offset and size)."""
    return "json:" + json.dumps({"driver": "raw", "offset": offset, "size": size,
                                 "file": {"driver": "file", "filename": str(path)}})


def qemu_img_compare(uri: str, other: str) -> subprocess.CompletedProcess:
    """qemu-img compare: 0 identical, 1 not. (Not -s: that also compares which blocks are allocated,
    and a sparse image's holes are not the export's. The sizes are compared by the tests.)"""
    return run_tool(["qemu-img", "compare", "-f", "raw", uri, other], check=False)


def folder_digest(folder: Path) -> Dict[str, str]:
    """SHA-256 of every file of the folder, over its size and the data of its allocated extents (a
    write allocates what it writes; reading the holes of 340 MiB sparse images would only cost time)."""
    out = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            digest.update(size.to_bytes(8, "little"))
            offset = 0
            while offset < size:
                try:
                    offset = os.lseek(f.fileno(), offset, os.SEEK_DATA)
                except OSError as error:  # ENXIO: no data after offset
                    if error.errno != errno.ENXIO:
                        raise
                    break
                end = os.lseek(f.fileno(), offset, os.SEEK_HOLE)
                digest.update(offset.to_bytes(8, "little") + os.pread(f.fileno(), end - offset, offset))
                offset = end
        out[path.name] = digest.hexdigest()
    return out


def nbdinfo(uri: str) -> dict:
    (export,) = json.loads(run_tool(["nbdinfo", "--json", uri]).stdout)["exports"]
    return export


def write_ignoring_read_only(socket_path: str, offset: int, data: bytes) -> Tuple[int, int, int]:
    """A write sent as a client that ignores the read-only flag would send it (the NBD protocol,
    doc/proto.md: fixed newstyle handshake, NBD_OPT_EXPORT_NAME, NBD_CMD_WRITE, a simple reply):
    (export size, transmission flags, the server's error number)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(socket_path)
        f = s.makefile("rwb")
        magic, ihaveopt, handshake_flags = struct.unpack(">8s8sH", f.read(18))
        assert (magic, ihaveopt) == (b"NBDMAGIC", b"IHAVEOPT")
        no_zeroes = handshake_flags & 2
        f.write(struct.pack(">I", 1 | no_zeroes))  # NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES
        f.write(b"IHAVEOPT" + struct.pack(">II", 1, 0))  # NBD_OPT_EXPORT_NAME of the default export ""
        f.flush()
        size, transmission_flags = struct.unpack(">QH", f.read(10))
        if not no_zeroes:
            f.read(124)
        f.write(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, offset, len(data)) + data)  # NBD_CMD_WRITE, handle 7
        f.flush()
        magic, error, handle = struct.unpack(">IIQ", f.read(16))
        assert (magic, handle) == (0x67446698, 7)
        f.write(struct.pack(">IHHQQI", 0x25609513, 0, 2, 8, 0, 0))  # NBD_CMD_DISC
        f.flush()
        return size, transmission_flags, error


@pytest.fixture(autouse=True)
def _tools():
    for name in ("nbdkit", "qemu-img", "qemu-io", "nbdinfo"):
        require_tool(name)


def test_qemu_img_finds_the_export_equal_to_each_plexs_bytes(tmp_path):
    folder = mirrored_machine(tmp_path)
    extents = plex_extents(folder)
    before = folder_digest(folder)
    with serve.serve(folder, "C:") as server:
        for image, offset, size in extents:
            assert server.size == size
            same = qemu_img_compare(server.uri, image_extent(image, offset, size))
            assert (same.returncode, same.stdout) == (0, "Images are identical.\n"), same.stderr
            # The comparison can fail: the same extent one sector further on differs from the volume.
            moved = qemu_img_compare(server.uri, image_extent(image, offset + 512, size))
            assert moved.returncode == 1 and "Content mismatch at offset 0!" in moved.stdout, moved
        assert server.log == ""
    assert server.process.returncode == 0
    assert folder_digest(folder) == before  # read-only: not an image byte, nor machine.json, written


def test_a_mirror_with_its_disk_gone_is_served_from_the_plex_left(tmp_path):
    folder = mirrored_machine(tmp_path)
    (disk0, offset0, size), (disk1, offset1, _) = plex_extents(folder)
    with bootmirror.Machine.open(folder) as m:
        m.fail_disk(0)
        c = m.volume("c:")
        c.write_bytes("after-the-failure.txt", b"on one plex only\r\n")  # disk 0's plex is stale from here
        c.flush()
        del c
        assert m.dynamic_volume("c").status == "Failed Rd"
    Path(disk0).rename(tmp_path / "disk0-taken-out.img")  # the dead disk is not there at all
    before = folder_digest(folder)
    with serve.serve(folder, "0") as server:  # the volume by its number in list volume
        assert server.size == size
        left = qemu_img_compare(server.uri, image_extent(disk1, offset1, size))
        assert left.returncode == 0, left.stdout + left.stderr
        stale = qemu_img_compare(server.uri, image_extent(str(tmp_path / "disk0-taken-out.img"), offset0, size))
        assert stale.returncode == 1 and "Content mismatch" in stale.stdout
    assert folder_digest(folder) == before


def test_nbdinfo_reports_the_volumes_size_and_read_only(tmp_path):
    folder = mirrored_machine(tmp_path)
    with bootmirror.Machine.open(folder) as m:
        size = m.dynamic_volume("c").device.size
    with serve.serve(folder, "c:") as server:
        export = nbdinfo(server.uri)
        assert export["export-size"] == size == server.size
        assert export["is_read_only"] is True and export["can_flush"] is False
        assert export["description"] == "volume c: of the machine lab"
    with serve.serve(folder, "C:", writable=True) as server:
        assert nbdinfo(server.uri)["is_read_only"] is False


def test_a_read_only_export_refuses_writes_in_the_server_and_in_qemu(tmp_path):
    folder = mirrored_machine(tmp_path)
    before = folder_digest(folder)
    with serve.serve(folder, "C:") as server:
        socket_path = server.uri.split("socket=", 1)[1]
        size, flags, error = write_ignoring_read_only(socket_path, 0, b"\xa5" * 4096)
        assert size == server.size
        assert flags & 1 and flags & 2  # NBD_FLAG_HAS_FLAGS, NBD_FLAG_READ_ONLY
        assert error in (errno.EPERM, errno.EROFS)
        refused = run_tool(["qemu-io", "-f", "raw", "-c", "write -P 0xa5 0 4k", server.uri], check=False)
        assert refused.returncode != 0 and "Permission denied" in refused.stderr
        assert run_tool(["qemu-io", "-r", "-f", "raw", "-c", "read -P 0xa5 0 4k", server.uri], check=False).returncode != 0
    assert folder_digest(folder) == before


def test_a_writable_export_writes_every_plex_of_the_mirror(tmp_path):
    folder = mirrored_machine(tmp_path)
    with serve.serve(folder, "C:", writable=True) as server:
        wrote = run_tool(["qemu-io", "-f", "raw", "-c", f"write -P 0xa5 {MiB} 64k", "-c", "flush", server.uri])
        assert "wrote 65536/65536 bytes" in wrote.stdout
    assert server.process.returncode == 0
    with bootmirror.Machine.open(folder) as m:
        volume = m.dynamic_volume("c")
        for plex in range(2):
            assert volume.plex_device(plex).read(MiB, 65536) == b"\xa5" * 65536
        assert volume.verify().identical
    for image, offset, size in plex_extents(folder):
        assert run_tool(["qemu-io", "-r", "-f", "raw", "-c", f"read -P 0xa5 {MiB} 64k",
                         image_extent(image, offset, size)]).returncode == 0


def test_a_basic_volume_is_served_as_its_partition(tmp_path):
    m = bootmirror.Machine.create(tmp_path / "basic")
    m.create_disk("340 MiB")
    m.diskpart("select disk 0\nconvert gpt\ncreate partition primary size=20\nassign letter=E", check=True)
    m.format("e:", "/fs:fat /q /y")
    m.volume("e:").write_bytes("a.txt", b"basic\r\n")
    (part,) = [p for p in m.disk(0).partitions if p.kind == "basic"]
    image = m.disk(0).path
    m.close()
    # By its letter, and by its number in list volume (no dynamic volumes: the basic ones from 0).
    listed = bootmirror.Machine.open(tmp_path / "basic")
    number = next(line.split()[1] for line in listed.diskpart("list volume").splitlines() if line.split()[2:3] == ["E"])
    listed.close()
    for which in ("E:", number):
        with serve.serve(tmp_path / "basic", which) as server:
            assert server.size == part.size
            same = qemu_img_compare(server.uri, image_extent(image, part.offset, part.size))
            assert same.returncode == 0, same.stdout + same.stderr


def test_wrong_volumes_and_places_are_refused_before_nbdkit_starts(tmp_path):
    folder = mirrored_machine(tmp_path)
    with pytest.raises(bootmirror.UsageError, match="There is no volume"):
        serve.serve(folder, "Q:")
    with pytest.raises(bootmirror.UsageError, match="There is no volume 7"):
        serve.serve(folder, "7")
    # Digits int() refuses ("²") and numbers past any volume count are not volumes either.
    for which in ("\u00b2", "9" * 20):
        with pytest.raises(bootmirror.UsageError, match=f"'{which}' is not a drive letter"):
            serve.serve(folder, which)
    taken = tmp_path / "taken.sock"
    taken.write_text("")
    with pytest.raises(bootmirror.UsageError, match="exists"):
        serve.serve(folder, "C:", socket=taken)
    with pytest.raises(bootmirror.UsageError, match="not both"):
        serve.serve(folder, "C:", socket=tmp_path / "s.sock", port=10809)


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_serve_verb_prints_its_uri_serves_on_loopback_and_stops_on_ctrl_c(tmp_path):
    folder = mirrored_machine(tmp_path)
    port = free_loopback_port()
    process = subprocess.Popen([sys.executable, "-m", "bootmirror", "serve", "-m", str(folder), "--volume", "C:",
                                "--port", str(port), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:  # the document, printed once nbdkit serves
            lines.append(line)
            if line == "}\n":
                break
        doc = json.loads("".join(lines))
        assert doc["command"] == "serve" and doc["uri"] == f"nbd://127.0.0.1:{port}" and doc["writable"] is False
        export = nbdinfo(doc["uri"])
        assert export["export-size"] == doc["size"] and export["is_read_only"] is True
        (image, offset, size), _ = plex_extents(folder)
        assert qemu_img_compare(doc["uri"], image_extent(image, offset, size)).returncode == 0
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    with socket.socket() as s:  # nbdkit is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_serve_verbs_help_names_its_options():
    shown = subprocess.run([sys.executable, "-m", "bootmirror", "serve", "--help"], capture_output=True, text=True)
    assert shown.returncode == 0
    for option in ("--volume", "--machine", "--socket", "--port", "--writable", "--json", "exit codes: 0 done"):
        assert option in shown.stdout, option
    refused = subprocess.run([sys.executable, "-m", "bootmirror", "serve", "-m", "x", "--volume", "C:",
                              "--socket", "a.sock", "--port", "1"], capture_output=True, text=True)
    assert refused.returncode == 2 and "not allowed with argument" in refused.stderr

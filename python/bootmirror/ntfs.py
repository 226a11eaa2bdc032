r"""NTFS volumes, read by bootmirror's own reader (read-only).

    v = bootmirror.ntfs.open(disk)      # a Disk, a partition, a dynamic volume's device
    v.label, v.serial, v.version        # 'PRIMARY', 0x1A2B..., (3, 1)
    v.listdir("WINDOWS/system32")       # '\' or '/', without regard to case, as on Windows
    v.read_bytes(r"\WINDOWS\system32\ntoskrnl.exe")

Everything here is the engine's answer (bootmirror._core.NtfsVolume); nothing is computed again.
Damage raises FormatError naming what and where; opening never writes.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Iterator, List, Tuple

from . import _core
from ._paths import PathQueries, Target, device_of

if TYPE_CHECKING:
    from .progress import ProgressArg


class Volume(PathQueries):
    """An NTFS volume: its boot sector's geometry and $Volume's label and version."""

    def __init__(self, volume: _core.NtfsVolume) -> None:
        self._volume = volume
        # The engine's method itself, not a Python wrapper around it: a walk that reads every file
        # calls it thousands of times, and the extra frame cost a fifth of each call.
        self.read_bytes = volume.read_file  # type: ignore[method-assign]

    @property
    def label(self) -> str:
        """The volume label ($Volume's name)."""
        return self._volume.label

    @property
    def serial(self) -> int:
        """The 64-bit volume serial number."""
        return self._volume.serial

    @property
    def version(self) -> Tuple[int, int]:
        """NTFS version from $VOLUME_INFORMATION: (3, 1) for Windows XP and later."""
        return self._volume.version

    @property
    def cluster_size(self) -> int:
        """Bytes per cluster."""
        return self._volume.cluster_size

    @property
    def bytes_per_sector(self) -> int:
        """The sector size the boot sector gives."""
        return self._volume.bytes_per_sector

    @property
    def cluster_count(self) -> int:
        """Clusters in the volume."""
        return self._volume.cluster_count

    @property
    def hidden_sectors(self) -> int:
        """Where the boot sector says its volume starts on the disk, in sectors."""
        return self._volume.hidden_sectors

    @property
    def dirty(self) -> bool:
        """$Volume's VOLUME_IS_DIRTY: Windows checks such a volume at boot; ntfs-3g will not write it."""
        return self._volume.dirty

    @property
    def free_clusters(self) -> int:
        """Clusters $Bitmap leaves free."""
        return self._volume.free_clusters

    @property
    def free_bytes(self) -> int:
        """Bytes in clusters $Bitmap marks free."""
        return self._volume.free_clusters * self._volume.cluster_size

    def allocated_ranges(self) -> List[Tuple[int, int]]:
        """The byte ranges of the clusters in use: [(offset, length), ...]."""
        return self._volume.allocated_ranges()

    @property
    def mft_record_size(self) -> int:
        """Bytes per MFT record."""
        return self._volume.mft_record_size

    @property
    def mft_record_count(self) -> int:
        """Records in the $MFT."""
        return self._volume.mft_record_count

    def scandir(self, path: str = "") -> List[_core.NtfsEntry]:
        """The entries of a folder, in its index's (name) order; the volume's own files ($MFT,
        ...) and the DOS aliases of long names are left out, as Windows lists a folder."""
        return self._volume.list(path)

    def listdir(self, path: str = "") -> List[str]:
        """The names in a folder (any case, '\\' or '/')."""
        return [e.name for e in self._volume.list(path)]

    def walk(self, top: str = "") -> Iterator[Tuple[str, List[str], List[str]]]:
        """Like os.walk, top-down: (folder path, folder names, file names); '/' separated. A
        folder listed inside itself (a damaged index) raises FormatError rather than looping."""
        pending = [top.strip("/\\").replace("\\", "/")]
        entered = {self._volume.stat(pending[0]).record}
        while pending:
            folder = pending.pop(0)
            names, records, files = self._volume.walk_step(folder)
            for name, record in zip(names, records):
                if record in entered:
                    raise _core.FormatError(f"NTFS: folder record {record} ({folder}/{name}) lies inside itself")
                entered.add(record)
            yield folder, names, files
            pending[:0] = [f"{folder}/{d}" if folder else d for d in names]

    def stat(self, path: str) -> _core.NtfsEntry:
        """The entry of the file or folder at `path` (size, attributes, times)."""
        return self._volume.stat(path)

    def read_bytes(self, path: str) -> bytes:
        """A file's data ($DATA); compressed or encrypted files raise FormatError."""
        return self._volume.read_file(path)

    def open(self, path: str, mode: str = "rb") -> "File":  # noqa: A003 - as io.open
        """A file for reading a piece at a time (``io.RawIOBase``; wrap it in ``io.BufferedReader``
        for line reads). Only "rb": the volume is read-only."""
        if mode != "rb":
            raise _core.UsageError(f"an NTFS volume opens files read-only ('rb'), not {mode!r}")
        entry = self._volume.stat(path)
        if entry.is_dir:
            raise IsADirectoryError(21, "Is a directory", path)
        return File(self._volume, entry)

    def export_tree(self, src: str, host_dir: "str | os.PathLike[str]",
                    progress: "ProgressArg" = None) -> _core.CopyStats:
        """Copy folder `src` ("" for the root) and everything below it into `host_dir` (made as
        needed): folders, and files with their data and modification and access times. Names
        keep their case; nothing is ever written outside `host_dir`, whatever the names on the
        volume (a name the host cannot hold, such as one with a control character, is changed;
        two that end up alike get ~2, ~3, ...). `progress` (a callable ``(done, total)`` or True
        for a bar) counts the files' bytes; an interrupt leaves the host files copied so far."""
        from .progress import run_reporting

        return run_reporting(lambda report: self._volume.export_tree(src, host_dir, report), progress, "Export")

    def read_record(self, number: int) -> bytes:
        """MFT record `number` as stored, its update sequence checked and undone."""
        return self._volume.read_record(number)

    def _repr_html_(self) -> str:
        """Its label, version and geometry, and its tree (folders fold; the first 200 entries)."""
        from . import _html

        major, minor = self.version
        size = self.cluster_count * self.cluster_size
        facts = _html.facts([
            ("type", f"NTFS {major}.{minor}"), ("label", self.label or "(none)"), ("serial", f"{self.serial:016X}"),
            ("size", f"{_core.describe_size(size)} ({size:,} bytes)"),
            ("allocation unit", f"{self.cluster_size:,} bytes x {self.cluster_count:,}"),
        ], "NTFS volume")
        try:
            return facts + _html.tree(self.scandir)
        except _core.FormatError as e:  # a damaged index still shows the volume
            return facts + f"<p>{_html.escape(e)}</p>"

    def __repr__(self) -> str:
        major, minor = self.version
        return f"<ntfs.Volume {self.label!r} NTFS {major}.{minor}, {self.cluster_size}-byte clusters>"


class File(io.RawIOBase):
    """A file of an NTFS volume, read through the engine (sparse runs and bytes past the
    initialized size read as zeros)."""

    def __init__(self, volume: _core.NtfsVolume, entry: _core.NtfsEntry) -> None:
        super().__init__()
        self._volume, self._record, self._size, self._pos = volume, entry.record, entry.size, 0
        self.name = entry.name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        """Read into `buffer` from the current position; returns the bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        data = self._volume.read_data(self._record, self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Read into `buffer` from the current position; returns the bytes read (0 at the end)."""
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence ({whence})")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def format(  # noqa: A001 - the name Windows gives it
    target: Target, *, label: str = "", cluster_size: int = 0, quick: bool = True, progress: "ProgressArg" = None
) -> _core.NtfsFormatResult:
    """Make a new NTFS volume on `target` (a Disk, a partition, a dynamic volume's device) with
    Debian's mkntfs (package ntfs-3g), as Windows ``format /fs:ntfs`` would: the device's sector
    size, Windows Server 2003's default cluster size unless given, the partition's start as hidden
    sectors, the serial from bootmirror's identity source. mkntfs works on a temporary sparse file;
    what it wrote is copied into `target`, boot sectors last. Nothing is written unless every
    option is valid. `progress` (a callable ``(done, total)`` or True for a bar) counts the bytes
    a full format's surface check reads (``quick=False``) and those copied in."""
    from .progress import run_reporting

    device = device_of(target)
    return run_reporting(lambda report: _core.ntfs_format(device, label, cluster_size, quick, report), progress,
                         "Format")


def install_tree(target: Target, host_folder: "str | os.PathLike[str]") -> None:
    """Fill the NTFS volume on `target` from a host folder, as Windows setup lays down a system
    volume: Debian's wimlib-imagex (package wimtools) captures the folder into a WIM and applies it
    to a temporary copy of the volume in NTFS-3G mode; what changed is copied back. What is on the
    volume stays; a top-level name the volume already has is refused (UsageError) before anything
    is written. A crash part way leaves the
    volume as it was, as it is after, or marked dirty (``Volume.dirty``)."""
    _core.ntfs_install_tree(device_of(target), os.fspath(host_folder))


def format_summary(result: _core.NtfsFormatResult, volume_bytes: int, previous: str = "RAW",
                   quick: bool = True) -> str:
    """The text Windows Server 2003's ``format /fs:ntfs`` prints after formatting."""
    return _core.ntfs_format_summary(result, volume_bytes, previous, quick)


def open(target: Target) -> Volume:  # noqa: A001 - mirrors io.open and fat.open
    """Open the NTFS volume on `target`; FormatError if it holds none (or a damaged one)."""
    return Volume(_core.NtfsVolume.open(device_of(target)))

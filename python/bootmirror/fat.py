"""FAT12/16/32 file systems on disks, partitions and volumes.

>>> import bootmirror
>>> disk = bootmirror.Disk.memory("64 MiB")
>>> result = bootmirror.fat.format(disk, label="ESP")
>>> vol = bootmirror.fat.open(disk)
>>> vol.makedirs("EFI/Boot")
>>> vol.write_bytes("EFI/Boot/bootx64.efi", b"MZ...")
>>> vol.listdir("efi\\\\boot")
['bootx64.efi']

Paths accept ``/`` and ``\\`` and are case-insensitive, as on Windows. 8.3 names and labels are
stored in the volume's OEM code page: cp437 (Windows' US default) unless ``codepage=`` names
another (:func:`code_pages` lists them). Names come back as ``str``; a long name on disk that
holds a lone UTF-16 surrogate comes back holding it (as ``os.listdir`` shows undecodable names),
and passing that ``str`` back opens the file. ``Entry.raw_short_name`` and ``Entry.raw_long_name``
give the bytes as stored. Formatting follows
Windows ``format``: ``fs="FAT"`` chooses FAT12 or FAT16 by size, ``fs="FAT32"`` FAT32, with
Microsoft's default allocation-unit sizes unless ``cluster_size`` says otherwise.
"""

from __future__ import annotations

import io
import os

from . import _core
from ._html import printable as _printable
from ._paths import PathQueries, Target, device_of

TYPE_CHECKING = False  # typing is not imported at run time: it would cost every command 5 ms
if TYPE_CHECKING:
    from typing import Callable, Iterator, List, Optional, Tuple, TypeVar, Union

    from .progress import ProgressArg

    T = TypeVar("T")

__all__ = [
    "ARCHIVE",
    "DIRECTORY",
    "HIDDEN",
    "READ_ONLY",
    "SYSTEM",
    "VOLUME_LABEL",
    "Entry",
    "FatFileIO",
    "Volume",
    "code_pages",
    "compare_trees",
    "copy_tree",
    "sync_tree",
    "format",
    "format_summary",
    "open",
    "plan",
    "run_format",
    "run_xcopy",
    "xcopy_listing",
]

READ_ONLY = 0x01
HIDDEN = 0x02
SYSTEM = 0x04
VOLUME_LABEL = 0x08
DIRECTORY = 0x10
ARCHIVE = 0x20

Entry = _core.FatEntry


def format(
    target: Target,
    fs: str = "FAT",
    *,
    cluster_size: Optional[int] = None,
    label: str = "",
    fat_count: int = 2,
    root_entries: Optional[int] = None,
    serial: Optional[int] = None,
    media: int = 0xF8,
    quick: bool = True,
    codepage: str = "cp437",
    progress: ProgressArg = None,
) -> _core.FatFormatResult:
    """Format `target` (a Disk, a slice of one, or a block device) as Windows ``format`` does.

    ``fs`` is "FAT" (FAT12 or FAT16 by size), "FAT32", or "FAT12"/"FAT16" to force the type.
    The serial number comes from bootmirror's identity source unless given. The label is stored
    in OEM code page `codepage`. Nothing is written unless every option is valid. `progress`
    (a callable ``(done, total)`` or True for a bar) counts the bytes written, most of them the
    zeroed data area of a full format (``quick=False``); see :mod:`bootmirror.progress` for
    what an interrupt leaves.
    """
    device = device_of(target)
    return _reporting(lambda report: _core.fat_format(device, fs, cluster_size, label, fat_count, root_entries,
                                                      serial, media, quick, codepage, report),
                      progress, "Format")


def code_pages() -> List[str]:
    """The OEM code pages 8.3 names and labels can be read and written in ("cp437", "cp850", ...)."""
    return _core.fat_code_pages()


def plan(size: Union[int, str], sector_size: int = 512, fs: str = "FAT", **options) -> _core.FatGeometry:
    """The geometry :func:`format` would choose for a volume of `size` bytes, without writing."""
    return _core.fat_plan(_core.parse_size(size), sector_size, fs, options.get("cluster_size"),
                          options.get("fat_count", 2), options.get("root_entries"))


def format_summary(result: _core.FatFormatResult, volume_bytes: int, previous: str = "RAW",
                   quick: bool = True) -> str:
    """The text Windows ``format`` prints after formatting ("The type of the file system is ...")."""
    return _core.format_summary(result, volume_bytes, previous, quick)


def xcopy_listing(source_folder: str, copied: List[str]) -> str:
    """xcopy's output: one line per copied source file, then "N File(s) copied"."""
    return _core.xcopy_listing(source_folder, copied)


def run_format(target: Target, switches: str = "/fs:fat /q /y", codepage: str = "cp437",
               progress: ProgressArg = None) -> str:
    """``format X: <switches>`` on `target`: formats it and returns the text Windows prints; a
    label (``/v:``) is written in the OEM `codepage`. `progress` as :func:`format`'s."""
    device = device_of(target)
    return _reporting(lambda report: _core.run_format(device, switches, codepage, report), progress, "Format")


def run_xcopy(source: "Volume", from_path: str, target: "Volume", to_path: str, switches: str = "",
              progress: ProgressArg = None) -> str:
    """``xcopy <from_path> <to_path> <switches>`` between two volumes, e.g.
    ``run_xcopy(p, "p:\\*.*", s, "s:", "/s /h")``; returns xcopy's listing. `progress` as
    :func:`copy_tree`'s."""
    return _reporting(lambda report: _core.run_xcopy(source._volume, from_path, target._volume, to_path, switches,
                                                     report), progress, "xcopy")


def open(target: Target, codepage: str = "cp437") -> "Volume":  # noqa: A001 - mirrors io.open / Disk.open
    """Open the FAT file system on `target`; FormatError if it holds none (or a damaged one).

    `codepage` is the OEM code page its 8.3 names and label are in (UsageError for an unknown
    one). Opening never writes.
    """
    return Volume(_core.FatVolume.open(device_of(target), codepage))


def copy_tree(source: "Volume", src_dir: str, target: "Volume", dst_dir: str, pattern: str = "*.*",
              recurse: bool = False, empty_dirs: bool = False, hidden: bool = False,
              progress: ProgressArg = None) -> List[str]:
    """xcopy between volumes; returns the copied files' paths relative to `src_dir` ('\\'-separated).

    All or nothing: a damaged source file, a full target or a folder in the way is refused
    before anything is written, and an interrupt leaves the target as it was. `progress` (a
    callable ``(done, total)`` or True for a bar) counts the bytes of the files copied."""
    return _reporting(lambda report: _core.fat_copy_tree(source._volume, src_dir, target._volume, dst_dir, pattern,
                                                         recurse, empty_dirs, hidden, report),
                      progress, "Copy")


def compare_trees(source: "Volume", target: "Volume", src_dir: str = "", dst_dir: str = "") -> List[_core.FatTreeDifference]:
    """What differs between folder `src_dir` of `source` and `dst_dir` of `target`, file by file:
    what a copy that makes the target exact would change (an empty list: none). Names are matched
    without regard to case, as Windows matches them; each difference has ``path`` ('/'-separated
    below the folders), ``change`` ("only-in-source", "only-in-target", "kind", "size", "content"
    by XXH3-128, "attributes", "modified") and each side's value as text. For keeping a shadow
    disk's ESP equal to the primary's::

        fat.compare_trees(m.esp(0), m.esp(1))   # the primary's ESP against the shadow's

    Never writes."""
    return _core.fat_compare_trees(source._volume, src_dir, target._volume, dst_dir)


def sync_tree(source: "Volume", target: "Volume", src_dir: str = "", dst_dir: str = "",
              dry_run: bool = False) -> List[_core.FatTreeDifference]:
    """Make folder `dst_dir` of `target` an exact copy of `src_dir` of `source`, as robocopy /MIR
    does: what the source lacks is removed, what is new or changed is copied, and attributes and
    times are set as the source's; the target's serial, label and names' case stay. Returns the
    differences acted on (those :func:`compare_trees` finds); with `dry_run`, writes nothing and
    only returns them. A damaged source file raises FormatError before anything is written. A
    sync cut short (a crash, a full volume) leaves each file as it was or as
    the source's, and running it again finishes it::

        fat.sync_tree(m.esp(0), m.esp(1))   # the shadow's ESP made equal to the primary's again
    """
    return _core.fat_sync_tree(source._volume, src_dir, target._volume, dst_dir, dry_run)


def _reporting(work: Callable[[Callable[[int, int], bool]], T], progress: ProgressArg, description: str) -> T:
    """bootmirror.progress.run_reporting, imported when first used: the command line's start-up
    does not pay for threading and json."""
    from .progress import run_reporting

    return run_reporting(work, progress, description)


class FatFileIO(io.RawIOBase):
    """A file on a FAT volume as a Python raw binary file (works with shutil.copyfileobj)."""

    def __init__(self, handle: _core.FatFile, mode: str, append: bool = False) -> None:
        super().__init__()
        self._handle = handle
        self._mode = mode
        self._pos = handle.size if append else 0
        self._append = append
        self.name = handle.path

    @property
    def mode(self) -> str:
        """The mode the file was opened with ('rb', 'wb', 'r+b', 'ab', ...)."""
        return self._mode

    def readable(self) -> bool:
        return "r" in self._mode or "+" in self._mode

    def writable(self) -> bool:
        return any(c in self._mode for c in "wa+")

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Read into `buffer` from the current position; returns the bytes read (0 at the end)."""
        self._check_open()
        if not self.readable():
            raise io.UnsupportedOperation("not readable")
        view = memoryview(buffer).cast("B")
        n = self._handle.readinto(self._pos, view)
        self._pos += n
        return n

    def readall(self) -> bytes:
        self._check_open()
        data = self._handle.read(self._pos, max(0, self._handle.size - self._pos))
        self._pos += len(data)
        return data

    def write(self, data) -> int:
        """Write `data` at the current position (at the end in append mode); returns its length."""
        self._check_open()
        if not self.writable():
            raise io.UnsupportedOperation("not writable")
        if self._append:
            self._pos = self._handle.size
        n = self._handle.write(self._pos, data)
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._handle.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def truncate(self, size: Optional[int] = None) -> int:
        self._check_open()
        if not self.writable():
            raise io.UnsupportedOperation("not writable")
        size = self._pos if size is None else size
        self._handle.truncate(size)
        return size

    def flush(self) -> None:
        if not self.closed and not self._handle.closed and self.writable():
            self._handle.flush()

    def close(self) -> None:
        if not self.closed:
            try:
                self._handle.close()
            finally:
                super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def __repr__(self) -> str:
        return f"<FatFileIO {self.name!r} mode={self._mode!r}>"


class Volume(PathQueries):
    """A FAT file system: files and folders, check and repair, bulk import and export.

    Every method leaves the device consistent when it returns, and one that fails leaves it as
    it was. One lock serialises the calls, so threads may share a Volume and its open files. Use
    as a context manager (or call :meth:`flush`) to make writes durable on an image file.
    """

    def __init__(self, volume: _core.FatVolume) -> None:
        self._volume = volume

    # -- facts ------------------------------------------------------------------------------
    @property
    def engine(self) -> _core.FatVolume:
        """The C++ volume behind this object."""
        return self._volume

    @property
    def geometry(self) -> _core.FatGeometry:
        """The volume's layout as its boot sector gives it: type, cluster size, FAT size, counts."""
        return self._volume.geometry

    @property
    def fat_type(self) -> str:
        """"FAT12", "FAT16" or "FAT32"."""
        return self._volume.geometry.type

    @property
    def codepage(self) -> str:
        """The OEM code page of 8.3 names and the label: "cp437", "cp850", ..."""
        return self._volume.codepage

    @property
    def label(self) -> str:
        """The volume label, decoded with the volume's OEM code page ("" for none)."""
        return self._volume.label

    @label.setter
    def label(self, value: str) -> None:
        self._volume.set_label(value)

    @property
    def serial(self) -> int:
        """The volume serial number (Windows shows it as XXXX-XXXX)."""
        return self._volume.serial

    @property
    def serial_text(self) -> str:
        """The serial number as Windows shows it: "EA34-03C7"."""
        s = self._volume.serial
        return f"{s >> 16:04X}-{s & 0xFFFF:04X}"

    @property
    def total_bytes(self) -> int:
        """Bytes in all data clusters."""
        return self._volume.total_bytes

    @property
    def free_bytes(self) -> int:
        """Bytes in free clusters."""
        return self._volume.free_bytes

    # -- folders ------------------------------------------------------------------------------
    def scandir(self, path: str = "") -> List[Entry]:
        """The entries of a folder (without "." and ".."), in on-disk order."""
        return self._volume.list(path)

    def listdir(self, path: str = "") -> List[str]:
        """The names in a folder (long names where there are any), in on-disk order."""
        return [e.name for e in self._volume.list(path)]

    def walk(self, top: str = "") -> Iterator[Tuple[str, List[str], List[str]]]:
        """Like os.walk, top-down: (folder path, folder names, file names); '/' separated.

        Raises FormatError on a folder cycle instead of looping.
        """
        for step in self._volume.walk(top):
            dirs = [e.name for e in step.entries if e.is_dir]
            files = [e.name for e in step.entries if not e.is_dir]
            yield step.path, dirs, files

    def stat(self, path: str) -> Entry:
        """The directory entry of a file or folder (:class:`Entry`)."""
        return self._volume.stat(path)

    def mkdir(self, path: str) -> None:
        """Create one folder (its parent must exist)."""
        self._volume.mkdir(path)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Create a folder and the folders above it that are missing (none is an error)."""
        if not exist_ok and self._volume.exists(path):
            raise FileExistsError(17, "File exists", path)
        self._volume.makedirs(path)

    def remove(self, path: str) -> None:
        """Delete a file."""
        self._volume.remove(path)

    unlink = remove

    def rmdir(self, path: str) -> None:
        """Delete an empty folder."""
        self._volume.rmdir(path)

    def rename(self, source: str, target: str) -> None:
        """Move or rename a file or folder (its new entry is written before the old one goes)."""
        self._volume.rename(source, target)

    def set_attributes(self, path: str, attributes: int) -> None:
        """Set read-only, hidden, system and archive bits (the others are kept)."""
        self._volume.set_attributes(path, attributes)

    def set_times(self, path: str, created: Optional[float] = None, modified: Optional[float] = None,
                  accessed: Optional[float] = None) -> None:
        """Set times, in seconds since 1970 (FAT keeps 2-second steps, access dates only)."""
        self._volume.set_times(path, created, modified, accessed)

    # -- files ----------------------------------------------------------------------------------
    def open(self, path: str, mode: str = "rb") -> FatFileIO:
        """A file as an io.RawIOBase: "rb", "wb", "ab", "r+b" (and "xb")."""
        m = mode.replace("b", "")
        if m == "r":
            handle = self._volume.open_file(path, False, False, False)
        elif m == "r+":
            handle = self._volume.open_file(path, True, False, False)
        elif m in ("w", "w+"):
            handle = self._volume.open_file(path, True, True, True)
        elif m in ("a", "a+"):
            handle = self._volume.open_file(path, True, True, False)
        elif m in ("x", "x+"):
            handle = self._volume.open_file(path, True, True, True, exclusive=True)
        else:
            raise ValueError(f"unsupported mode {mode!r} (use rb, wb, ab, r+b or xb)")
        return FatFileIO(handle, mode, append=m.startswith("a"))

    def read_bytes(self, path: str) -> bytes:
        """A file's contents."""
        return self._volume.read_file(path)

    def write_bytes(self, path: str, data) -> int:
        """Create or replace a file with `data` (any bytes-like object)."""
        self._volume.write_file(path, data)
        return len(memoryview(data).cast("B"))

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """A file's contents decoded as `encoding`."""
        return self.read_bytes(path).decode(encoding)

    def write_text(self, path: str, text: str, encoding: str = "utf-8") -> int:
        """Write `text` encoded as `encoding` to a file, replacing it."""
        return self.write_bytes(path, text.encode(encoding))

    # -- bulk -------------------------------------------------------------------------------------
    def import_tree(self, host_dir: Union[str, os.PathLike], dest: str = "",
                    progress: ProgressArg = None) -> _core.CopyStats:
        """Copy a host folder's contents into folder `dest` (made as needed), in C++.

        All or nothing: a host name FAT cannot hold, a file over 4 GiB, a folder in the way or a
        full volume is refused before anything is written, and an interrupt leaves the volume as
        it was. `progress` (a callable ``(done, total)`` or True for a bar) counts the files'
        bytes."""
        host = os.fspath(host_dir)
        return _reporting(lambda report: self._volume.import_tree(host, dest, report), progress, "Import")

    def export_tree(self, src: str, host_dir: Union[str, os.PathLike],
                    progress: ProgressArg = None) -> _core.CopyStats:
        """Copy folder `src` into a host folder. Never writes outside `host_dir`: names that are
        unsafe on the host are changed, names equal but for case get "~2" suffixes, and symlinks
        in the target are not followed. `progress` counts the files' bytes; an interrupt leaves
        the host files copied so far."""
        host = os.fspath(host_dir)
        return _reporting(lambda report: self._volume.export_tree(src, host, report), progress, "Export")

    # -- health -----------------------------------------------------------------------------------
    def check(self, repair: bool = False) -> _core.FatCheckReport:
        """Check like ``fsck.fat -n``; with ``repair=True`` fix what ``fsck.fat -a`` fixes. Each
        problem says whether it was repaired (and if not, why); nothing is written when nothing
        could be repaired."""
        return self._volume.check(repair)

    def flush(self) -> None:
        """Make every change durable (a device flush)."""
        self._volume.flush()

    def __enter__(self) -> "Volume":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._volume.device.writable:
            self._volume.flush()

    def _repr_html_(self) -> str:
        """Its geometry, label and free space, and its tree (folders fold; the first 200 entries)."""
        from . import _html

        g = self.geometry
        facts = _html.facts([
            ("type", g.type), ("label", _printable(self.label) or "(none)"), ("serial", self.serial_text),
            ("size", f"{_core.describe_size(self.total_bytes)} ({self.total_bytes:,} bytes)"),
            ("free", f"{_core.describe_size(self.free_bytes)}"),
            ("allocation unit", f"{g.cluster_size:,} bytes x {g.cluster_count:,}"),
        ], "FAT volume")
        try:
            return facts + _html.tree(self.scandir)
        except _core.FormatError as e:  # a damaged folder still shows the volume
            return facts + f"<p>{_html.escape(e)}</p>"

    def __repr__(self) -> str:
        g = self.geometry
        label = _printable(self.label) or "(no label)"
        return (f"<fat.Volume {g.type} {label} {self.serial_text} {_core.describe_size(self.total_bytes)}, "
                f"{g.cluster_size}-byte clusters, {_core.describe_size(self.free_bytes)} free>")


# Readable reprs for the engine's result objects (they print as <... object at 0x...> otherwise).
def _geometry_repr(g: _core.FatGeometry) -> str:
    return (f"<fat.Geometry {g.type} {g.cluster_size}-byte clusters x {g.cluster_count:,}, {g.fat_count} FATs of "
            f"{g.sectors_per_fat:,} sectors, {g.reserved_sectors} reserved sectors, {g.total_sectors:,} sectors>")


def _format_result_repr(r: _core.FatFormatResult) -> str:
    serial = f"{r.serial >> 16:04X}-{r.serial & 0xFFFF:04X}"
    label = f" {r.label!r}" if r.label else ""
    return (f"<fat.FormatResult {r.geometry.type}{label} serial {serial}, {r.total_bytes:,} bytes total, "
            f"{r.available_bytes:,} available>")


def _check_report_repr(r: _core.FatCheckReport) -> str:
    state = "clean" if r.clean else f"{len(r.problems)} problem(s)"
    return (f"<fat.CheckReport {state}: {r.files} files, {r.directories} folders, "
            f"{r.used_clusters:,} of {r.cluster_count:,} clusters used>")


_core.FatGeometry.__repr__ = _geometry_repr  # type: ignore[assignment]
_core.FatFormatResult.__repr__ = _format_result_repr  # type: ignore[assignment]
_core.FatCheckReport.__repr__ = _check_report_repr  # type: ignore[assignment]
_core.FatCheckProblem.__repr__ = lambda p: (  # type: ignore[assignment]
    f"<fat.CheckProblem {p.kind} {p.path!r}: {p.message}{' (repaired)' if p.repaired else ''}>")

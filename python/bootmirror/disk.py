"""Disks: image files, memory disks, slices and fault injection, behind one small class."""

from __future__ import annotations

import os

from . import _core

# Not typing's TYPE_CHECKING: importing typing costs milliseconds that every command would pay.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple, Union

    from . import gpt
    from .crash import WriteLog

SizeLike = int | str
BytesLike = bytes | bytearray | memoryview


def buffer(size: SizeLike) -> memoryview:
    """A writable, zero-filled, page-aligned buffer of `size` bytes, for :meth:`Disk.readinto` and
    :meth:`Disk.write` in a loop.

    Why: the kernel copies between the page cache and a user buffer fastest when the buffer starts
    on a cache line; a bytearray's storage starts 16 bytes past one (after malloc's header), and
    hot-cache reads into it were measured 2.1x slower, writes from it 1.3x. This buffer is an
    anonymous memory map, so it starts on a page."""
    import mmap

    size = _core.parse_size(size)
    return memoryview(mmap.mmap(-1, max(size, 1)))[:size]


class Disk:
    """A disk held in an image file (or in memory).

    Create or open one with :meth:`create`, :meth:`open` or :meth:`memory`. Offsets and sizes are
    in bytes; sizes also accept strings such as ``"204 MiB"`` (MB means MiB, as in diskpart).
    A Disk is a context manager: leaving the ``with`` block flushes and closes an image file.
    """

    def __init__(self, device: _core.BlockDevice) -> None:
        if not isinstance(device, _core.BlockDevice):
            raise _core.UsageError(f"Disk needs a block device, not {type(device).__name__}")
        self._device = device

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: Union[str, os.PathLike], size: SizeLike, sector_size: int = 512) -> "Disk":
        """Create a new sparse image of `size` bytes; refuses to overwrite an existing file."""
        return cls(_core.ImageFile.create(os.fspath(path), size, sector_size))

    @classmethod
    def open(
        cls,
        path: Union[str, os.PathLike],
        writable: bool = False,
        sector_size: int = 512,
        allow_device: bool = False,
    ) -> "Disk":
        """Open an existing image, read-only unless `writable`.

        Block devices under /dev open for writing only with ``allow_device=True``.
        """
        return cls(_core.ImageFile.open(os.fspath(path), writable, sector_size, allow_device))

    @classmethod
    def memory(cls, size: SizeLike, sector_size: int = 512) -> "Disk":
        """A disk held in memory, for tests and scratch work."""
        return cls(_core.MemoryDisk(size, sector_size))

    @classmethod
    def overlay(cls, base: Union["Disk", _core.BlockDevice]) -> "Disk":
        """A copy-on-write view of `base`: reads see it, writes stay in memory and never reach it
        (the base may be read-only). For dry runs, what-if checks and crash states."""
        return cls(_core.OverlayDisk(base.device if isinstance(base, Disk) else base))

    # -- properties -------------------------------------------------------------------------
    @property
    def device(self) -> _core.BlockDevice:
        """The engine's block device behind this disk."""
        return self._device

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._device.size

    @property
    def sector_size(self) -> int:
        """Logical sector size in bytes (512 or 4096)."""
        return self._device.sector_size

    @property
    def sector_count(self) -> int:
        """Size in sectors."""
        return self._device.sector_count

    @property
    def writable(self) -> bool:
        """Whether writes are allowed (an image opened read-only refuses them)."""
        return self._device.writable

    @property
    def path(self) -> Optional[str]:
        """The image file's path, or None for a disk not held in a file."""
        return getattr(self._device, "path", None)

    @property
    def closed(self) -> bool:
        """True once an image file is closed (a disk not held in a file never is)."""
        return getattr(self._device, "closed", False)

    @property
    def name(self) -> str:
        """The engine's name for the device: the image path, or a description of a memory disk or slice."""
        return self._device.name

    # -- I/O ----------------------------------------------------------------------------------
    # The per-call path of read, readinto and write is the engine's methods themselves, bound on
    # the instance (no Python frame, no pybind11 dispatch), so that reading a sector costs about
    # what os.pread does. The methods below document them and bind them on a disk's first I/O, not
    # in __init__: a disk opened only to be handed to the engine (ldm.read_group's, a scan's) pays
    # nothing for them (about 0.3 us a disk).
    def _bind_io(self):
        io = _core.device_io(self._device)
        self.read, self.readinto, self.write = io.read, io.readinto, io.write
        return io

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes at byte `offset`."""
        return self._bind_io().read(offset, length)

    def readinto(self, offset: int, buffer: Union[bytearray, memoryview]) -> int:
        """Fill a writable buffer (bytearray, memoryview, numpy array) from `offset`, no copy.

        For reads of many kilobytes, give it a :func:`bootmirror.buffer`: the kernel copies into a
        page-aligned buffer up to twice as fast as into a bytearray's storage."""
        return self._bind_io().readinto(offset, buffer)

    def write(self, offset: int, data: BytesLike) -> None:
        """Write any bytes-like object at byte `offset` (read without copying)."""
        self._bind_io().write(offset, data)

    def flush(self) -> None:
        """Make everything written durable (fsync for image files)."""
        self._device.flush()

    def allocated_extents(self) -> List[Tuple[int, int]]:
        """(offset, length) ranges holding data; the holes of a sparse image are left out."""
        return self._device.allocated_extents()

    @property
    def allocated_bytes(self) -> int:
        """Bytes the image really holds (a sparse 10 GiB image may hold only a few MiB)."""
        return sum(length for _, length in self.allocated_extents())

    def slice(self, offset: int, length: int) -> "Disk":
        """A window of this disk (a partition's bytes) as a Disk of its own."""
        return Disk(_core.Slice(self._device, offset, length))

    # -- partitions (GPT, as Windows Server 2003 partitions) ------------------------------------
    @property
    def partitions(self) -> "gpt.PartitionList":
        """The GPT partitions in on-disk offset order (numbered as diskpart numbers them); a list
        that Jupyter shows as a table."""
        from . import gpt

        return gpt.partitions(self)

    def convert_gpt(self) -> None:
        """Write a GPT on an empty disk, with the Microsoft Reserved partition Windows adds
        (32 MiB under 16 GiB, 128 MiB otherwise) at the first usable LBA."""
        _core.gpt.convert_gpt(self._device)

    def create_partition(
        self, kind: str, size: Optional[SizeLike] = None, offset: Optional[SizeLike] = None, align: Optional[SizeLike] = None
    ) -> "gpt.Partition":
        """Create an 'efi', 'msr' or 'primary' partition in the first free extent that holds it.

        `size`, `offset` and `align` are bytes or strings such as ``"204 MiB"``; no size takes the
        largest free extent. Returns the new partition.
        """
        from . import gpt

        number, raw = _core.gpt.create_partition(self._device, kind, size, offset, align)
        return gpt.Partition.from_raw(number, raw, self.sector_size)

    def delete_partition(self, number: int, override: bool = False) -> None:
        """Delete partition `number`; all but basic data partitions (EFI, MSR, LDM, unknown types)
        need ``override=True``, as in diskpart."""
        _core.gpt.delete_partition(self._device, number, override)

    def clean(self) -> None:
        """Remove the partition table (zero the first and last MiB), as diskpart's ``clean``."""
        _core.gpt.clean(self._device)

    # -- dynamic disks (LDM) -------------------------------------------------------------------
    @property
    def is_dynamic(self) -> bool:
        """True when the disk holds a Windows LDM database (a dynamic disk)."""
        from . import ldm

        return ldm.is_dynamic(self)

    def convert_dynamic(self, group=None):
        """diskpart "convert dynamic": make this disk a member of `group` (an
        :class:`bootmirror.ldm.DiskGroup`, a new one when None), commit, and return the group."""
        from . import ldm

        return ldm.convert_dynamic(self, group)

    def close(self) -> None:
        """Close the image file. Reads and writes after this raise UsageError."""
        close = getattr(self._device, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "Disk":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self.writable and not self.closed:  # close() in the block flushed nothing
                self.flush()
        finally:
            self.close()

    def __repr__(self) -> str:
        where = self.path or self.name
        mode = "rw" if self.writable else "ro"
        return (
            f"<{type(self).__name__} {where!r} {_core.describe_size(self.size)} "
            f"({self.size} bytes, {self.sector_size}-byte sectors, {mode})>"
        )

    def _repr_html_(self) -> str:
        from . import _html  # only notebooks draw; a disk command does not load html

        facts = _html.facts([
            ("path", self.path or self.name),
            ("size", f"{_core.describe_size(self.size)} ({self.size:,} bytes)"),
            ("sector size", f"{self.sector_size} bytes"),
            ("mode", "read-write" if self.writable else "read-only"),
        ], type(self).__name__)
        try:
            return facts + self.partitions._repr_html_()
        except (_core.FormatError, OSError) as e:  # a damaged or unreadable disk still shows itself
            return facts + f"<p>partition table: {_html.escape(e)}</p>"


class FaultyDisk(Disk):
    """A disk that misbehaves on purpose, for crash-safety and error-path tests.

    - ``fail_range(offset, length, access="both")``: I/O errors (EIO) on a byte range;
    - ``cut_power_after(n)``: writes after the next `n` are dropped silently; ``power_lost`` tells;
    - ``missing = True``: the disk is gone; every access fails with ENODEV;
    - ``log=``: a :class:`bootmirror.crash.WriteLog` that records every write and flush, for the
      write-back crash model (any unflushed write may be lost or torn).
    """

    def __init__(self, disk: Union[Disk, _core.BlockDevice], log: Optional["WriteLog"] = None) -> None:
        inner = disk.device if isinstance(disk, Disk) else disk
        super().__init__(_core.FaultyDisk(inner))
        if log is not None:
            log.record(self)

    def fail_range(self, offset: int, length: int, access: str = "both") -> None:
        """Fail reads, writes or both (`access`) of a byte range with EIO."""
        self._device.fail_range(offset, length, access)

    def clear_faults(self) -> None:
        """Forget every failing range: reads and writes succeed again."""
        self._device.clear_faults()

    def cut_power_after(self, writes: int) -> None:
        """Let `writes` more writes through, then drop every later one silently (a power cut)."""
        self._device.cut_power_after(writes)

    @property
    def power_lost(self) -> bool:
        """Whether writes have been dropped since :meth:`cut_power_after`."""
        return self._device.power_lost

    @property
    def writes_seen(self) -> int:
        """Writes asked for, dropped ones included."""
        return self._device.writes_seen

    @property
    def writes_applied(self) -> int:
        """Writes that reached the disk underneath."""
        return self._device.writes_applied

    @property
    def missing(self) -> bool:
        """Whether the disk is gone: every access fails with ENODEV while True."""
        return self._device.missing

    @missing.setter
    def missing(self, value: bool) -> None:
        self._device.missing = value

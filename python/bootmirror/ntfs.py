"""NTFS volumes, read by bootmirror's own reader (read-only).

    v = bootmirror.ntfs.open(m.volume_device("c:"))   # a Disk, a partition, a dynamic volume's device
    v.label, v.serial, v.version                       # 'PRIMARY', 0x1A2B..., (3, 1)

Everything here is the engine's answer (bootmirror._core.NtfsVolume); nothing is computed again.
Damage raises FormatError naming what and where; opening never writes.
"""

from __future__ import annotations

from typing import Tuple, Union

from . import _core
from .disk import Disk

Target = Union[Disk, _core.BlockDevice]


def _device(target: Target) -> _core.BlockDevice:
    if isinstance(target, Disk):
        return target.device
    if isinstance(target, _core.BlockDevice):
        return target
    raise _core.UsageError(f"expected a Disk or a block device, not {type(target).__name__}")


class Volume:
    """An NTFS volume: its boot sector's geometry and $Volume's label and version."""

    def __init__(self, volume: _core.NtfsVolume) -> None:
        self._volume = volume

    @property
    def label(self) -> str:
        return self._volume.label

    @property
    def serial(self) -> int:
        return self._volume.serial

    @property
    def version(self) -> Tuple[int, int]:
        """NTFS version from $VOLUME_INFORMATION: (3, 1) for Windows XP and later."""
        return self._volume.version

    @property
    def cluster_size(self) -> int:
        return self._volume.cluster_size

    @property
    def bytes_per_sector(self) -> int:
        return self._volume.bytes_per_sector

    @property
    def cluster_count(self) -> int:
        return self._volume.cluster_count

    @property
    def mft_record_size(self) -> int:
        return self._volume.mft_record_size

    @property
    def mft_record_count(self) -> int:
        return self._volume.mft_record_count

    def read_record(self, number: int) -> bytes:
        """MFT record `number` as stored, its update sequence checked and undone."""
        return self._volume.read_record(number)

    def __repr__(self) -> str:
        major, minor = self.version
        return f"<ntfs.Volume {self.label!r} NTFS {major}.{minor}, {self.cluster_size}-byte clusters>"


def open(target: Target) -> Volume:  # noqa: A001 - mirrors io.open and fat.open
    """Open the NTFS volume on `target`; FormatError if it holds none (or a damaged one)."""
    return Volume(_core.NtfsVolume.open(_device(target)))

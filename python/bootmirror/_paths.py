"""What a file system's Python volume answers about its paths, the same for FAT and NTFS: each
question goes to the engine's volume (its exists and stat), which matches names as Windows does."""

from __future__ import annotations

from . import _core
from .disk import Disk

TYPE_CHECKING = False  # typing is not imported at run time: it would cost every command 5 ms
if TYPE_CHECKING:
    from typing import Any

Target = Disk | _core.BlockDevice


def device_of(target: Target) -> _core.BlockDevice:
    """The block device a volume is opened on: a Disk's, or a device given as is."""
    if isinstance(target, Disk):
        return target.device
    if isinstance(target, _core.BlockDevice):
        return target
    raise _core.UsageError(f"expected a Disk or a block device, not {type(target).__name__}")


class PathQueries:
    """stat, exists, isdir and isfile over the engine volume in ``self._volume``."""

    _volume: Any

    def stat(self, path: str) -> Any:
        """The entry of the file or folder at `path`."""
        return self._volume.stat(path)

    def exists(self, path: str) -> bool:
        """Whether a file or folder is at `path`."""
        return self._volume.exists(path)

    def isdir(self, path: str) -> bool:
        """Whether `path` is a folder."""
        return self._volume.exists(path) and self._volume.stat(path).is_dir

    def isfile(self, path: str) -> bool:
        """Whether `path` is a file."""
        return self._volume.exists(path) and not self._volume.stat(path).is_dir

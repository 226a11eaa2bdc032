"""bootmirror: build, inspect, mirror and repair bootable disk images.

GPT partition tables, FAT file systems, Windows LDM dynamic disks and their mirrors, and EFI
NVRAM boot entries, on image files, with a fast C++ engine underneath.

Errors: every error raised for bad input or bad use is a :class:`bootmirror.Error`:
:class:`FormatError` for corrupt or unsupported on-disk data (with ``.offset``),
:class:`UsageError` for bad arguments or state. Failures of the operating system are ``OSError``
(``FileNotFoundError``, ...) carrying the path.
"""

from ._version import __version__
from ._core import Error, FormatError, UsageError, crc32, describe_size, parse_size
from .disk import Disk, FaultyDisk
from .identity import deterministic, new_guid, now
from . import crash, fat, gpt, kb814070
from .machine import Machine
from . import firmware, ldm, ntfs, nvram, qemu

__all__ = [
    "__version__",
    "Disk",
    "Error",
    "FaultyDisk",
    "FormatError",
    "Machine",
    "UsageError",
    "crash",
    "crc32",
    "describe_size",
    "fat",
    "gpt",
    "kb814070",
    "ldm",
    "firmware",
    "ntfs",
    "nvram",
    "qemu",
    "deterministic",
    "new_guid",
    "now",
    "parse_size",
]

"""Dynamic volumes as block devices; rebuilds and verify"""

from typing import Callable, List, Optional, Sequence, Tuple

from . import BlockDevice, Machine, ldm

#: A progress callback: (bytes done, bytes in all); returning False stops the work.
Progress = Callable[[int, int], object]

class PlexStatus:
    """One plex of a volume device: its state and, while rebuilding, its cursor."""
    @property
    def cursor(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def problem(self) -> str: ...
    @property
    def state(self) -> str: ...

class VerifyReport:
    """What verify() found: XXH3-128 hashes per plex and region, and mismatches."""
    @property
    def hashes(self) -> list[list[bytes]]: ...
    @property
    def identical(self) -> bool: ...
    @property
    def mismatches(self) -> list[tuple[int, int]]: ...
    @property
    def plexes(self) -> list[str]: ...
    @property
    def region_bytes(self) -> int: ...

class VolumeDevice(BlockDevice):
    """A dynamic volume: reads from a plex in sync, writes to every plex that holds the range."""
    @property
    def plexes(self) -> list[PlexStatus]: ...
    @property
    def readable(self) -> bool: ...
    def verify(self, region_bytes: int = 1048576, progress: Optional[Progress] = None) -> VerifyReport: ...

class PlexView(BlockDevice):
    """One plex of a dynamic volume on its own, read-only, whatever its state."""
    def __init__(self, volume: VolumeDevice, plex: str) -> None: ...

def machine_volume(machine: Machine, which: str) -> tuple[int, Optional[VolumeDevice]]:
    """(index, device) of the dynamic volume a letter or number names; device None when no plex is readable."""
    ...
def machine_volume_status(machine: Machine, which: str) -> str:
    """diskpart's status: Healthy, Rebuild, Failed Rd or Failed."""
    ...
def open_ldm_volume(group: ldm.Group, devices: Sequence[BlockDevice], index: int) -> Optional[VolumeDevice]:
    """Volume `index` of a group over the devices it was read from; None when no plex is readable."""
    ...
def rebuild(volume: VolumeDevice, plex: int, cursor: int = 0, chunk_bytes: int = 4194304, progress: Optional[Progress] = None) -> bool:
    """Copy the volume into plex `plex` from `cursor`, verify it and mark it in sync; False when the progress callback stopped it."""
    ...

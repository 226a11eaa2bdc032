"""GUID Partition Tables: partitions, verification and repair.

The engine reads both copies (primary at LBA 1, backup at the last LBA), uses the good one, and
writes one copy at a time so a crash always leaves a valid table. Partition numbers follow the
on-disk offset order, as Windows numbers them::

    disk.convert_gpt()                       # empty disk -> GPT with a Microsoft Reserved partition
    disk.create_partition("efi", "204 MiB")
    for p in disk.partitions: print(p)
    report = bootmirror.gpt.verify(disk)     # report.clean, report.problems
    bootmirror.gpt.repair(disk)              # -> list of what was rewritten
"""

from __future__ import annotations

from . import _core

# Neither dataclasses nor typing at run time: they cost 10 and 5 ms, and every command that shows a
# disk imports this module (issue 15).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Union

    from .disk import Disk

    DiskLike = Union["Disk", _core.BlockDevice]

_gpt = _core.gpt
Table = _gpt.Table
RawPartition = _gpt.Partition
Health = _gpt.Health

#: Type GUIDs bootmirror knows by name.
EFI_SYSTEM = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
MICROSOFT_RESERVED = "e3c9e316-0b5c-4db8-817d-f92df00215ae"
LDM_METADATA = "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3"
LDM_DATA = "af9b60a0-1431-4f62-bc68-3311714a69ad"
BASIC_DATA = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"

def _device(disk: DiskLike) -> _core.BlockDevice:
    return disk if isinstance(disk, _core.BlockDevice) else disk.device


class Partition:
    """A partition of a GPT disk, numbered in on-disk offset order (1 = lowest offset). Immutable;
    equal to another with the same fields."""

    __slots__ = ("number", "kind", "type_guid", "unique_guid", "name", "first_lba", "last_lba", "attributes",
                 "sector_size")
    number: int
    kind: str  # "efi", "msr", "basic", "ldm_metadata", "ldm_data" or "other"
    type_guid: str
    unique_guid: str
    name: str
    first_lba: int
    last_lba: int
    attributes: int
    sector_size: int

    def __init__(self, number: int, kind: str, type_guid: str, unique_guid: str, name: str, first_lba: int,
                 last_lba: int, attributes: int, sector_size: int) -> None:
        values = (number, kind, type_guid, unique_guid, name, first_lba, last_lba, attributes, sector_size)
        for field, value in zip(self.__slots__, values):
            object.__setattr__(self, field, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Partition is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Partition is immutable: cannot delete {name!r}")

    def _values(self) -> tuple:
        return tuple(getattr(self, field) for field in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return self._values() == other._values() if isinstance(other, Partition) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple:  # copy and pickle build a new one (setting fields would refuse)
        return (Partition, self._values())

    @classmethod
    def from_raw(cls, number: int, raw: RawPartition, sector_size: int) -> "Partition":
        """The partition numbered `number` from the engine's entry."""
        return cls(number, raw.kind, raw.type_guid, raw.unique_guid, raw.name, raw.first_lba, raw.last_lba,
                   raw.attributes, sector_size)

    @property
    def offset(self) -> int:
        """Byte offset of the first sector."""
        return self.first_lba * self.sector_size

    @property
    def size(self) -> int:
        """Length in bytes."""
        return (self.last_lba - self.first_lba + 1) * self.sector_size

    @property
    def type_name(self) -> str:
        """The type's name: "EFI System", "Microsoft Reserved", ..., "Unknown"."""
        return {
            "efi": "EFI System",
            "msr": "Microsoft Reserved",
            "basic": "Microsoft basic data",
            "ldm_metadata": "LDM metadata",
            "ldm_data": "LDM data",
        }.get(self.kind, "Unknown")

    def __repr__(self) -> str:
        return (
            f"<Partition {self.number} {self.kind} {self.name!r} LBA {self.first_lba}..{self.last_lba} "
            f"offset {self.offset:,} size {_core.describe_size(self.size)} unique {self.unique_guid}>"
        )

    def _repr_html_(self) -> str:
        return partitions_html([self])


def partitions_html(parts: List[Partition]) -> str:
    """An HTML table of partitions, for Jupyter."""
    from . import _html  # only notebooks draw; a disk command does not load html

    return _html.table(("#", "kind", "name", "offset", "size", "first LBA", "last LBA", "unique GUID"),
                       ((p.number, p.kind, p.name, f"{p.offset:,}", _core.describe_size(p.size), p.first_lba,
                         p.last_lba, p.unique_guid) for p in parts))


class PartitionList(list["Partition"]):
    """A plain list of partitions that Jupyter shows as its disk drawn to scale and a table."""

    #: The size of the disk the partitions are on (set by :func:`partitions`), for the drawing.
    disk_size: Optional[int] = None

    def _repr_html_(self) -> str:
        from . import _html

        bar = _html.disk_bar(self.disk_size, self) if self.disk_size else ""
        return bar + partitions_html(self)


def partitions(disk: DiskLike) -> PartitionList:
    """The partitions of a GPT disk in offset order; empty for a disk with no partition table.
    A list (shown as a table in Jupyter)."""
    device = _device(disk)
    listed = PartitionList(Partition.from_raw(i + 1, p, device.sector_size) for i, p in enumerate(_gpt.partitions(device)))
    listed.disk_size = device.size
    return listed


def read(disk: DiskLike) -> Table:
    """The whole table (from the primary copy when valid, else the backup); FormatError if neither."""
    return _gpt.read(_device(disk))


def write(disk: DiskLike, table: Table) -> None:
    """Write both copies of `table` (backup first, then primary) and the protective MBR."""
    _gpt.write(_device(disk), table)


def verify(disk: DiskLike) -> Health:
    """Check both copies and the protective MBR without writing: ``.clean``, ``.problems``,
    ``.primary``/``.backup`` (``.header_valid``, ``.array_valid``), ``.backup_at_end``."""
    return _gpt.verify(_device(disk))


def repair(disk: DiskLike, fix_grown: bool = True) -> List[str]:
    """Rewrite a damaged copy from the good one (and move the backup to the end of a grown disk).

    Returns what was rewritten (empty when nothing was wrong). FormatError, with nothing written,
    when neither copy is usable.
    """
    return _gpt.repair(_device(disk), fix_grown)


def style(disk: DiskLike) -> str:
    """'gpt', 'mbr' or 'raw' (no partition table)."""
    return _gpt.style(_device(disk))


def _health_repr(self: Health) -> str:
    if self.clean:
        return "<gpt.Health clean>"
    return "<gpt.Health " + "; ".join(self.problems) + ">"


Health.__repr__ = _health_repr  # type: ignore[assignment]
RawPartition.__repr__ = lambda p: (  # type: ignore[assignment]
    f"<gpt.Partition {p.kind} {p.name!r} LBA {p.first_lba}..{p.last_lba} type {p.type_guid}>" if p.used else "<gpt.Partition unused>"
)
Table.__repr__ = lambda t: (  # type: ignore[assignment]
    f"<gpt.Table {t.disk_guid} {len(t.in_offset_order())} partitions, {t.entry_count} x {t.entry_size}-byte entries, "
    f"usable LBA {t.first_usable_lba}..{t.last_usable_lba}>"
)

__all__ = [
    "BASIC_DATA", "EFI_SYSTEM", "LDM_DATA", "LDM_METADATA", "MICROSOFT_RESERVED",
    "Health", "Partition", "PartitionList", "RawPartition", "Table",
    "partitions", "read", "repair", "style", "verify", "write",
]

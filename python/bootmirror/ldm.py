"""Windows dynamic disks (LDM): read a disk group from its disks, change it, commit it.

Every dynamic disk holds the whole group's database (the last MiB of an MBR disk, the "LDM metadata
partition" of a GPT disk). :func:`read_group` decodes the disks you give it and takes the newest
database, as Windows does; disks of the group that you did not give are *missing*::

    import bootmirror
    from bootmirror import ldm

    disks = [bootmirror.Disk.open(p, writable=True) for p in ("d0.img", "d1.img")]
    group = ldm.read_group(disks)
    group.volumes[0].layout          # 'mirrored'
    group.volumes[0].plexes          # one Plex per mirror half

    group = ldm.DiskGroup.create("WIN-BOOT-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])   # convert dynamic
    group.create_volume("Volume1", "mirrored", [(a, 0, 2048 * 100), (b, 0, 2048 * 100)], drive_hint="C:")
    group.commit()                   # crash-safe: old or new configuration, never a mixture

    ldm.verify(disks[0]).problems    # every damaged copy of its headers, with its byte offset

Sizes and offsets of the model are in sectors, as the LDM database keeps them; ``size_bytes``
gives bytes. Names are the bytes on disk read as UTF-8 (an ill-formed sequence shows as U+FFFD);
``name_bytes`` gives the bytes themselves. A damaged copy of a header is read around (the first
valid copy is used, as libldm and the kernel do) and :func:`verify` names it; a record that points
outside its disk leaves its plex unusable and its volume "Failed Rd" or "Failed".
"""

from __future__ import annotations

from . import _core
from .disk import Disk

TYPE_CHECKING = False  # typing is not imported at run time: it would cost every command 5 ms
if TYPE_CHECKING:
    from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

_ldm = _core.ldm


def _find(found, what: str):
    """(index, record) that the engine's `*_by_id` lookup found, looked up afresh on each use: the
    engine hands out copies of its records, which a later change (add_disk, create_volume, ...)
    leaves stale, so a record must never be kept across changes."""
    if found is None:
        raise _core.UsageError(f"the {what} is no longer in the disk group")
    return found

__all__ = ["DiskGroup", "LdmDisk", "Volume", "Plex", "Partition", "Health", "Damage", "read_group", "scan", "is_dynamic",
           "convert_dynamic", "verify"]

Health = _ldm.Health
Damage = _ldm.Damage


def plex_name(plexes: Sequence[Any], plex: Union[str, int]) -> str:
    """The name of plex `plex`, given by name or by place in `plexes`; a place out of range stays
    as it is written, for the engine's UsageError ("Volume1 has no plex 5")."""
    if isinstance(plex, int) and 0 <= plex < len(plexes):
        return str(plexes[plex].name)
    return str(plex)


class Partition:
    """An extent of a dynamic disk that belongs to a volume (an LDM partition record)."""

    def __init__(self, group: "DiskGroup", record) -> None:
        self._group = group
        self._id = record.id

    @property
    def _r(self):
        return _find(self._group._core.partition_by_id(self._id), "partition")[1]

    name = property(lambda self: self._r.name, doc="Windows' name, e.g. 'Disk1-01'.")
    name_bytes = property(lambda self: self._r.name_bytes, doc="The name as the bytes on disk.")
    start = property(lambda self: self._r.start, doc="First sector, counted from the disk's data start.")
    size = property(lambda self: self._r.size, doc="Length in sectors.")
    volume_offset = property(lambda self: self._r.volume_offset, doc="Sector of the volume where it begins.")
    index = property(lambda self: self._r.index, doc="Column index of a striped volume (None for column 0).")

    @property
    def disk(self) -> "LdmDisk":
        """The disk it lives on (possibly missing)."""
        index, record = _find(self._group._core.disk_by_id(self._r.disk_id), "disk")
        return LdmDisk(self._group, index, record)

    @property
    def offset(self) -> Optional[int]:
        """Byte offset on its disk, (data start + start) * sector size; None when the disk is
        missing or the partition lies outside its data area (a damaged record)."""
        index = _find(self._group._core.partition_by_id(self._id), "partition")[0]
        where = _ldm.partition_location(self._group._core, index)
        return None if where is None else where[0]

    def __repr__(self) -> str:
        return f"<ldm.Partition {self.name} on {self.disk.name} start={self.start} size={self.size}>"


class Plex:
    """One copy of a volume's data (an LDM component): a mirror has two, other volumes one."""

    def __init__(self, group: "DiskGroup", record, partitions: List[Partition]) -> None:
        self._group = group
        self._id = record.id
        self.partitions = partitions

    @property
    def _r(self):
        return _find(self._group._core.component_by_id(self._id), "plex")[1]

    name = property(lambda self: self._r.name, doc="Windows' name, e.g. 'Volume1-01'.")
    name_bytes = property(lambda self: self._r.name_bytes, doc="The name as the bytes on disk.")
    state = property(lambda self: self._r.state, doc="The component's state as the database keeps it, e.g. 'ACTIVE'.")
    chunk_size = property(lambda self: self._r.chunk_size, doc="Stripe size in sectors (0 unless striped).")

    @property
    def problem(self) -> str:
        """Why this plex cannot serve its volume's data ("Disk2 is missing", a partition outside
        its disk, too few sectors); "" when it can."""
        index = _find(self._group._core.component_by_id(self._id), "plex")[0]
        return _ldm.plex_problem(self._group._core, index)

    @property
    def usable(self) -> bool:
        """Whether it can serve its volume's data (:attr:`problem` is empty)."""
        return self.problem == ""

    @property
    def disks(self) -> List[str]:
        """The names of the disks its partitions are on."""
        return [p.disk.name for p in self.partitions]

    @property
    def missing(self) -> bool:
        """True when any of its disks is missing."""
        return any(not p.disk.present for p in self.partitions)

    def __repr__(self) -> str:
        where = ", ".join(self.disks)
        state = " (missing)" if self.missing else "" if self.usable else " (damaged)"
        return f"<ldm.Plex {self.name} on {where}{state}>"


class Volume:
    """A dynamic volume: number, name, GUID, layout, size, state, drive letter hint, plexes."""

    def __init__(self, group: "DiskGroup", index: int, record) -> None:
        self._group = group
        self._id = record.id

    @property
    def _r(self):
        return _find(self._group._core.volume_by_id(self._id), "volume")[1]

    @property
    def index(self) -> int:
        """Position in the group's volumes (diskpart's volume numbering among dynamic volumes)."""
        return _find(self._group._core.volume_by_id(self._id), "volume")[0]

    name = property(lambda self: self._r.name, doc="Windows' name, e.g. 'Volume1'.")
    name_bytes = property(lambda self: self._r.name_bytes, doc="The name as the bytes on disk.")
    guid = property(lambda self: self._r.guid, doc="The volume's GUID.")
    number = property(lambda self: self._r.number, doc="The volume number kept in the database.")
    size = property(lambda self: self._r.size, doc="Size in sectors.")
    state = property(lambda self: self._r.state, doc="'ACTIVE' as Windows writes it.")
    layout = property(lambda self: self._r.layout, doc="'simple', 'spanned', 'striped', 'mirrored' or 'raid5'.")
    drive_hint = property(lambda self: self._r.drive_hint, doc="The drive letter Windows last gave it, e.g. 'C:'.")
    partition_type = property(lambda self: self._r.partition_type, doc='The partition type byte the record keeps (0x07 for NTFS, 0x0C for FAT32, ...).')

    @property
    def type(self) -> str:
        """diskpart's word for the layout: Simple, Spanned, Stripe, Mirror, RAID-5."""
        return _core.diskpart_volume_type(self.layout)

    @property
    def size_bytes(self) -> int:
        """Size in bytes."""
        return _ldm.size_bytes(self._group._core, self.index)

    @property
    def letter(self) -> str:
        """The drive letter ("C"), from the database's drive hint; "" without one."""
        return (self.drive_hint or "")[:1]

    def device(self) -> Optional[Disk]:
        """The volume's bytes as a Disk over all its plexes, whatever the layout: reads come from
        a plex that can serve (failing over on I/O errors), writes reach every plex. None when no
        plex has a layout the records can describe."""
        devices = [d.device if d is not None else None for d in self._group._disks]
        volume = _core.mirror.open_ldm_volume(self._group._core, devices, self.index)
        return Disk(volume) if volume is not None else None

    def plex_device(self, plex: Union[str, int]) -> Disk:
        """One plex on its own, read-only, by name ("Volume1-01") or place in :attr:`plexes`: what
        its disks hold for the volume's bytes (to check or compare each plex alone). UsageError
        for a plex on a missing disk."""
        whole = self.device()
        if whole is None:
            raise _core.UsageError(f"volume {self.name} has no plex the records can describe")
        return Disk(_core.mirror.PlexView(whole.device, plex_name(self.plexes, plex)))

    def _file_system(self) -> "tuple[str, str]":
        dev = self.device()
        return _core.file_system_on(dev.device) if dev is not None else ("", "")

    @property
    def fs(self) -> str:
        """"FAT32", "FAT" or "NTFS" as diskpart's Fs column shows it; "" when unknown."""
        return self._file_system()[0]

    @property
    def label(self) -> str:
        """The FAT volume label ("" for other file systems), read with code page 437."""
        return self._file_system()[1]

    @property
    def partitions(self) -> List[Partition]:
        """Its partitions, in the record's order."""
        parts = self._group._core.partitions
        return [Partition(self._group, parts[i]) for i in self._r.partitions]

    @property
    def plexes(self) -> List[Plex]:
        """Its plexes (two for a mirror)."""
        comps = self._group._core.components
        out = []
        for ci in self._r.components:
            c = comps[ci]
            out.append(Plex(self._group, c, [p for p in self.partitions if p._r.component_id == c.id]))
        return out

    @property
    def status(self) -> str:
        """'Healthy', 'Failed Rd' (some plex cannot serve: missing or damaged), or 'Failed' (none
        can), as the engine judges each plex (:attr:`Plex.problem`)."""
        return _ldm.volume_status(self._group._core, self.index)

    def __repr__(self) -> str:
        hint = f" {self.drive_hint}" if self.drive_hint else ""
        return f"<ldm.Volume {self.name}{hint} {self.layout} {_core.describe_size(self.size_bytes)} {self.status}>"


class LdmDisk:
    """A disk of the group: present (with its :class:`Disk`) or missing."""

    def __init__(self, group: "DiskGroup", index: int, record) -> None:
        self._group = group
        self._id = record.id

    @property
    def _r(self):
        return _find(self._group._core.disk_by_id(self._id), "disk")[1]

    @property
    def index(self) -> int:
        """Position in the group's disks."""
        return _find(self._group._core.disk_by_id(self._id), "disk")[0]

    id = property(lambda self: self._id, doc="The disk record's id in the database.")
    name = property(lambda self: self._r.name, doc="Windows' name, e.g. 'Disk1'.")
    name_bytes = property(lambda self: self._r.name_bytes, doc="The name as the bytes on disk.")
    guid = property(lambda self: self._r.guid, doc="The disk's GUID in the database.")
    present = property(lambda self: self._r.present, doc="Whether the disk was found (False: diskpart's Missing).")
    data_start = property(lambda self: self._r.data_start, doc="First sector of the area volumes use.")
    data_size = property(lambda self: self._r.data_size, doc='Sectors of the area volumes use.')
    config_start = property(lambda self: self._r.config_start, doc="First sector of the LDM database.")
    config_size = property(lambda self: self._r.config_size, doc='Sectors of the LDM database.')
    scheme = property(lambda self: self._r.scheme, doc="'mbr' or 'gpt'.")
    sector_size = property(lambda self: self._r.sector_size, doc="The disk's sector size in bytes.")

    @property
    def disk(self) -> Optional[Disk]:
        """The Disk it was read from, or None when missing."""
        return self._group._disks[self._r.device] if self.present else None

    def free_extents(self) -> List[Tuple[int, int]]:
        """(start, size) runs of free sectors in the data area."""
        return _ldm.free_extents(self._group._core, self.index)

    def __repr__(self) -> str:
        where = self.disk.path or self.disk.name if self.present else "Missing"
        return f"<ldm.LdmDisk {self.name} {self.guid} {where}>"


class DiskGroup:
    """A disk group: its name, GUID, disks and volumes. Change it, then :meth:`commit`."""

    def __init__(self, core_group, disks: Sequence[Optional[Disk]]) -> None:
        self._core = core_group
        self._disks = list(disks)  # indexed as the engine's device numbers; None for a missing disk

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def read(cls, disks: Iterable[Union[Disk, _core.BlockDevice]]) -> "DiskGroup":
        """Decode the group held by `disks` (FormatError on anything inconsistent)."""
        ds = [d if isinstance(d, Disk) else Disk(d) for d in disks]
        return cls(_ldm.read_group([d.device for d in ds]), ds)

    @classmethod
    def create(cls, name: str) -> "DiskGroup":
        """A new, empty group; Windows names it '<computer>-Dg0'."""
        return cls(_ldm.new_group(name), [])

    # -- model ------------------------------------------------------------------------------------
    name = property(lambda self: self._core.name, doc="The group's name, e.g. 'WIN-BOOT-Dg0'.")
    name_bytes = property(lambda self: self._core.name_bytes, doc="The name as the bytes on disk.")
    guid = property(lambda self: self._core.guid, doc="The group's GUID.")
    committed_seq = property(lambda self: self._core.committed_seq, doc="Sequence number of the last commit.")

    @property
    def disks(self) -> List[LdmDisk]:
        """The group's disks, present and missing, in the database's order."""
        return [LdmDisk(self, i, d) for i, d in enumerate(self._core.disks)]

    @property
    def volumes(self) -> List[Volume]:
        """The group's volumes, in diskpart's order."""
        return [Volume(self, i, v) for i, v in enumerate(self._core.volumes)]

    def disk(self, name: str) -> LdmDisk:
        """The disk named `name` ('Disk1'); UsageError when there is none."""
        for d in self.disks:
            if d.name == name:
                return d
        raise _core.UsageError(f"no disk named {name!r} in group {self.name}")

    def volume(self, name: str) -> Volume:
        """The volume named `name` ('Volume1'); UsageError when there is none."""
        for v in self.volumes:
            if v.name == name:
                return v
        raise _core.UsageError(f"no volume named {name!r} in group {self.name}")

    def _disk_index(self, disk: Union[LdmDisk, str, int]) -> int:
        if isinstance(disk, LdmDisk):
            return disk.index
        if isinstance(disk, int):
            return disk
        return self.disk(disk).index

    # -- changes (written by commit) -----------------------------------------------------------
    def add_disk(self, disk: Disk) -> LdmDisk:
        """Make `disk` a dynamic disk of this group (diskpart "convert dynamic"). Its basic
        partitions become simple volumes. Written by :meth:`commit`."""
        self._disks.append(disk)
        try:
            index = _ldm.add_disk(self._core, disk.device, len(self._disks) - 1)
        except BaseException:
            self._disks.pop()
            raise
        return self.disks[index]

    def create_volume(self, name: str, layout: str, extents: Sequence[Tuple[Union[LdmDisk, str, int], int, int]],
                      drive_hint: Optional[str] = None, chunk_sectors: int = 128) -> Volume:
        """A volume over (disk, start sector, sectors) extents: 'simple', 'spanned', 'striped' or
        'mirrored' (one extent per plex)."""
        ext = [(self._disk_index(d), start, size) for d, start, size in extents]
        index = _ldm.add_volume(self._core, name, layout, ext, chunk_sectors, drive_hint)
        return self.volumes[index]

    def add_mirror(self, volume: Union[Volume, str], disk: Union[LdmDisk, str], start: Optional[int] = None) -> Volume:
        """Give a simple volume (or a mirror) another plex on `disk` (diskpart "add disk=N"), at
        `start` or at the first free run large enough. The caller copies the data (resync)."""
        v = volume if isinstance(volume, Volume) else self.volume(volume)
        di = self._disk_index(disk)
        if start is None:
            runs = [s for s, n in _ldm.free_extents(self._core, di) if n >= v.size]
            if not runs:
                raise _core.UsageError("There is not enough usable space for this operation.")
            start = runs[0]
        _ldm.add_mirror(self._core, v.index, di, start)
        return self.volumes[v.index]

    def delete_volume(self, volume: Union[Volume, str]) -> None:
        """Remove a volume and its plexes and partitions (commit to write it)."""
        v = volume if isinstance(volume, Volume) else self.volume(volume)
        _ldm.remove_volume(self._core, v.index)

    def break_mirror(self, volume: Union[Volume, str], disk: Union[LdmDisk, str]) -> None:
        """Remove the plex of a mirror on `disk` (diskpart "break disk=M0 nokeep")."""
        v = volume if isinstance(volume, Volume) else self.volume(volume)
        _ldm.break_mirror(self._core, v.index, self._disk_index(disk))

    def delete_disk(self, disk: Union[LdmDisk, str]) -> None:
        """Remove a missing disk from the group (diskpart "delete disk"); refused for a present
        disk and for one holding a volume's only copy."""
        _ldm.remove_disk(self._core, self._disk_index(disk))

    @property
    def stale_disks(self) -> List["LdmDisk"]:
        """The present disks an interrupted commit left behind: an older database than the
        group's, records beyond the committed configuration (libldm refuses such a disk), or GPT
        "LDM data" entries that do not match the extents. :meth:`commit` brings them up to date,
        as Windows does when it starts."""
        devices = [d.device if d is not None else None for d in self._disks]
        return [self.disks[i] for i in _ldm.stale_disks(self._core, devices)]

    def repairs_needed(self) -> List[Tuple["LdmDisk", List[str]]]:
        """The present disks whose own database is damaged (a copy of a PRIVHEAD or TOCBLOCK, the
        VMDB or a VBLK, as :func:`verify` finds them) or behind the group's, each with why."""
        devices = [d.device if d is not None else None for d in self._disks]
        return [(self.disks[i], list(reasons)) for i, reasons in _ldm.repairs_needed(self._core, devices)]

    def repair(self) -> List[Tuple["LdmDisk", List[str]]]:
        """Rewrite the whole database of every disk :meth:`repairs_needed` names from this group
        (read from the newest consistent copy), in one crash-safe commit: a power cut leaves each
        disk with its old database or the new one. Returns what it repaired."""
        devices = [d.device if d is not None else None for d in self._disks]
        needed = _ldm.repairs_needed(self._core, devices)
        if needed:
            _ldm.repair(self._core, devices, [i for i, _ in needed])
            for d in self._disks:
                if d is not None and d.writable:
                    d.flush()
        return [(self.disks[i], list(reasons)) for i, reasons in needed]

    def commit(self) -> None:
        """Write the group to every present disk, crash-safely."""
        _ldm.commit(self._core, [d.device if d is not None else None for d in self._disks])
        for d in self._disks:
            if d is not None and d.writable:
                d.flush()

    # -- reprs ------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"<ldm.DiskGroup {self.name} {self.guid} disks={[d.name for d in self.disks]} "
                f"volumes={[v.name for v in self.volumes]}>")

    def _repr_html_(self) -> str:
        from . import _html

        rows = ((v.name, v.drive_hint or "", v.type, _core.describe_size(v.size_bytes), v.status,
                 ", ".join(p.name + " on " + p.disk.name for p in v.partitions)) for v in self.volumes)
        disks = ", ".join(d.name + ("" if d.present else " (Missing)") for d in self.disks)
        return _html.table(("Volume", "Hint", "Type", "Size", "Status", "Partitions"), rows,
                           f"Disk group {self.name} ({self.guid}); disks: {disks}")


def read_group(disks: Iterable[Union[Disk, _core.BlockDevice]]) -> DiskGroup:
    """Decode the disk group held by `disks` (see :class:`DiskGroup`)."""
    return DiskGroup.read(disks)


def scan(disks: Sequence[Optional[Disk]], preferred_guid: str = "") -> Tuple[Optional[DiskGroup], List[int], List[int]]:
    """Sort a machine's disks (None for a missing one): (its disk group or None, indexes of basic
    disks, indexes of foreign disks of other groups). The group is `preferred_guid` when present,
    else the one with most disks. FormatError for an LDM disk whose database is damaged."""
    devices = [d.device if d is not None else None for d in disks]
    result = _ldm.scan(devices, preferred_guid)
    if result.unreadable:
        index, message, offset = result.unreadable[0]
        error = _core.FormatError(f"disk {index}: {message}")
        error.offset = offset
        raise error
    group = None
    if result.group is not None:
        group = DiskGroup(result.group, list(disks))
    return group, list(result.basic), list(result.foreign)


def is_dynamic(disk: Union[Disk, _core.BlockDevice]) -> bool:
    """True when the partition table marks `disk` dynamic (MBR slot 0 of type 0x42, or a GPT LDM
    metadata partition) and a copy of its PRIVHEAD is valid."""
    return _ldm.is_dynamic(_device(disk))


def verify(disk: Union[Disk, _core.BlockDevice]) -> Health:
    """Check every copy of a disk's LDM headers (three PRIVHEADs, four TOCBLOCKs), its VMDB and
    records, and its partitions against its data area, without writing: ``.clean``,
    ``.readable``, ``.problems`` and ``.damage`` (each with ``.structure``, ``.offset`` in bytes
    and ``.problem``). Damage never raises; only I/O errors do."""
    return _ldm.verify(_device(disk))


def convert_dynamic(disk: Disk, group: Optional[DiskGroup] = None, name: str = "WIN-BOOTMIRROR-Dg0") -> DiskGroup:
    """diskpart "convert dynamic": add `disk` to `group` (a new group called `name` if None) and
    commit. Returns the group. When it fails, nothing is written and `group` is as it was."""
    import copy

    g = group if group is not None else DiskGroup.create(name)
    saved = (copy.copy(g._core), list(g._disks))
    try:
        g.add_disk(disk)
        g.commit()
    except BaseException:
        g._core, g._disks = saved
        raise
    return g


def _device(disk: Union[Disk, _core.BlockDevice]) -> _core.BlockDevice:
    return disk if isinstance(disk, _core.BlockDevice) else disk.device

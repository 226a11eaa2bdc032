"""The Machine: disks attached by number, as Windows numbers them, and the diskpart shell.

A machine kept in a folder records its image files (with their sector sizes) in
``machine.json``, so it survives between processes::

    m = bootmirror.Machine.create("lab")
    m.create_disk("10 GiB")                   # lab/disk0.img, attached as disk 0
    m.attach(bootmirror.Disk.open("other.img", writable=True))
    print(m.diskpart('''
        select disk 1
        convert gpt
        list partition
    '''))
    m = bootmirror.Machine.open("lab")        # later, in another process

``m.diskpart(script)`` returns the transcript; failing commands answer with diskpart's message.
With ``check=True`` the first failing command raises :class:`bootmirror.UsageError` instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple, Union

from . import _core
from .disk import Disk, SizeLike

if TYPE_CHECKING:
    from . import fat, ntfs, redundancy
    from .firmware import MachineNvram
    from .crash import WriteLog
    from .dynamic_volume import DynamicVolume
    from .progress import ProgressArg

PathLike = Union[str, "os.PathLike[str]"]


class Machine:
    """A computer with numbered disks; ``Machine()`` lives in memory, ``Machine.create(folder)``
    and ``Machine.open(folder)`` keep it in a folder."""

    def __init__(self, _machine: Optional[_core.Machine] = None) -> None:
        self._m = _machine if _machine is not None else _core.Machine()

    @classmethod
    def create(cls, folder: PathLike) -> "Machine":
        """A new machine folder (refused if it already holds one)."""
        return cls(_core.Machine.create(os.fspath(folder)))

    @classmethod
    def build(cls, folder: PathLike, steps: "Callable[[Machine], object]") -> "Machine":
        """A new machine folder (as :meth:`create`) made ready by `steps(machine)`: its disks,
        NVRAM, partitions. When a step fails (a size refused, Ctrl-C), the machine is closed and
        what it made is removed before the error is raised: a refused build leaves no folder that
        a retry would find taken."""
        import shutil

        path = os.fspath(folder)
        before = set(os.listdir(path)) if os.path.isdir(path) else None
        machine = cls.create(path)
        try:
            steps(machine)
        except BaseException:
            machine.close()
            if before is None:
                shutil.rmtree(path, ignore_errors=True)
            else:
                for name in set(os.listdir(path)) - before:
                    made = os.path.join(path, name)
                    if os.path.isdir(made):
                        shutil.rmtree(made, ignore_errors=True)
                    else:
                        os.unlink(made)
            raise
        return machine

    @classmethod
    def open(cls, folder: PathLike, log: "Optional[WriteLog]" = None) -> "Machine":
        """The machine kept in `folder`. Its images open read-only; the first operation that
        writes (to an image or to machine.json) takes the folder's write lock and reopens them for
        writing. The lock is kept until :meth:`close` (or the end of a ``with`` block, or of the
        process): meanwhile another process (or another Machine object) that tries to write gets
        a UsageError naming this one. With a :class:`bootmirror.crash.WriteLog`, every write of the
        disks and every step of a machine.json update are recorded there, for crash tests."""
        return cls(_core.Machine.open(os.fspath(folder), log.engine if log is not None else None))

    def close(self) -> None:
        """Release the folder's write lock and close the images. The machine (and the disks it
        handed out) cannot be used afterwards."""
        self._m.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: the machine can no longer be used."""
        return self._m.closed

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    @property
    def folder(self) -> Optional[str]:
        """The machine folder, or None for a machine in memory."""
        return self._m.folder

    def attach(self, disk: Union[Disk, _core.BlockDevice, PathLike], sector_size: int = 512) -> int:
        """Attach a disk (a Disk, a device, or the path of an image to open writable) as the lowest
        free disk number, and return that number. Keep the disk open while the machine uses it."""
        number = self._m.attach(self._device(disk, sector_size))
        # A missing disk that came back: its mirrors' plexes are copied back in.
        _core.dynamic.disk_returned(self._m)
        return number

    @staticmethod
    def _device(disk: Union[Disk, _core.BlockDevice, PathLike], sector_size: int) -> _core.BlockDevice:
        if isinstance(disk, Disk):
            return disk.device
        if isinstance(disk, _core.BlockDevice):
            return disk
        return _core.ImageFile.open(os.fspath(disk), True, sector_size)

    def fail_disk(self, number: int) -> None:
        """Disk `number` dies: it stays attached as missing (diskpart's "Disk M<n>  Missing",
        recorded in machine.json), mirrors on it show "Failed Rd" and go on from their other
        plexes; each write they miss is marked in their write-intent bitmaps. Attaching the same
        image (or device) again brings the disk back, and only what its plexes missed is copied
        back in, in the background (see :meth:`wait`)."""
        _core.dynamic.fail_disk(self._m, number)

    def reactivate(self, number: int) -> None:
        """Windows' "Reactivate Disk" for disk `number`: a missing disk whose image (or device)
        the machine still knows is connected again, and the plexes on the disk that failed (an
        I/O error; otherwise left "Failed Rd" until the machine restarts) are copied back in, in
        the background: only the regions their write-intent bitmaps mark (see :meth:`wait`)."""
        _core.dynamic.reactivate_disk(self._m, number)

    def replace_disk(self, number: int, disk: Union[Disk, _core.BlockDevice, PathLike], sector_size: int = 512) -> int:
        """A replacement disk (a Disk, a device, or the path of an image to open writable) goes
        in as disk `number`, as a new disk put in a dead disk's slot. The old disk fails if it had
        not, and stays as a missing disk (diskpart's "Disk M<k>", which ``break disk=m<k>`` and
        ``delete disk`` remove), attached under the disk number this returns. The old disk's own
        image is refused: :meth:`attach` brings that disk back instead."""
        return _core.dynamic.replace_disk(self._m, number, self._device(disk, sector_size))

    def create_disk(self, size: SizeLike, sector_size: int = 512, name: str = "") -> int:
        """Create a sparse image in the machine folder (``disk<N>.img``) and attach it."""
        return self._m.create_disk(size, sector_size, name)

    def detach(self, number: int) -> None:
        """Detach disk `number` (its image stays where it is)."""
        self._m.detach(number)

    @property
    def disks(self) -> Dict[int, Optional[Disk]]:
        """The attached disks by number (None for a disk whose image is missing)."""
        out: Dict[int, Optional[Disk]] = {}
        for number in self._m.disk_numbers:
            device = self._m.device(number)
            out[number] = Disk(device) if device is not None else None
        return out

    def disk(self, number: int) -> Disk:
        """Disk `number` (UsageError when there is none or it is missing). The machine keeps
        using the disk: do not close it (nor use it as a ``with`` block)."""
        device = self._m.device(number)
        if device is None:
            raise _core.UsageError(f"disk {number} is missing")
        return Disk(device)

    @property
    def oem_codepage(self) -> str:
        """The OEM code page this machine's Windows keeps FAT short names and labels in: "cp437"
        (the default, as US Windows), "cp850" on many European systems. ``format``, ``xcopy``,
        ``list volume`` and :meth:`volume` read and write with it; kept in machine.json."""
        return self._m.oem_codepage

    @oem_codepage.setter
    def oem_codepage(self, codepage: str) -> None:
        self._m.oem_codepage = codepage

    @property
    def selected_disk(self) -> Optional[int]:
        """The disk diskpart's focus is on."""
        return self._m.selected_disk

    @property
    def selected_partition(self) -> Optional[int]:
        """The partition diskpart's focus is on (numbered in offset order)."""
        return self._m.selected_partition

    # -- dynamic disks (LDM) ---------------------------------------------------------------------
    def convert_dynamic(self, number: int) -> bool:
        """diskpart "convert dynamic" on disk `number`: True when done, False when the disk runs
        Windows and the conversion waits for :meth:`reboot`."""
        return _core.dynamic.convert_dynamic(self._m, number)

    def reboot(self, entry: "Optional[Union[int, str]]" = None) -> "Optional[_core.BootResult]":
        """Restart the computer: completes the conversions to dynamic that wait for it, resumes
        the mirror resynchronisations that were interrupted, in the background (see
        :meth:`wait`), and, when the machine has NVRAM, boots as its firmware would (BootNext,
        then BootOrder, or `entry` chosen in the boot menu: see :meth:`boot`). Returns the boot's
        result, or None without NVRAM."""
        number = self._entry_number(entry) if entry is not None else None
        return _core.firmware_restart(self._m, number)

    def resync(self) -> None:
        """Finish every interrupted mirror resynchronisation and wait for it: a commit that
        stopped part way is completed first, then each copy resumes from its last checkpoint."""
        _core.dynamic.resync(self._m)

    def wait(self, timeout: Optional[float] = None, progress: "ProgressArg" = None) -> bool:
        """Block until every mirror rebuild is done (``add disk=N`` returns at once and copies
        in the background, as Windows does; a rebuild interrupted earlier resumes here). Returns
        False when `timeout` seconds passed first. `progress(done, total)` is called with the
        bytes copied of all rebuilds in progress, a few times a second; ``progress=True`` shows a
        tqdm bar (:mod:`bootmirror.progress`). Ctrl-C stops the waiting, not the copies. A rebuild that failed
        (an I/O error on its disk) raises its error here; one waiting for a missing disk does
        not hold up the wait."""
        from .dynamic_volume import rebuild_progress, wait_polling

        return wait_polling(self, timeout, progress, lambda: rebuild_progress(self, None))

    @property
    def rebuild_speed_limit(self) -> Optional[int]:
        """Bytes per second the background rebuild may copy (md's sync_speed_max); 0 holds every
        copy where it is; None (the default) is no limit. Kept for as long as this object."""
        return _core.dynamic.rebuild_speed_limit(self._m)

    @rebuild_speed_limit.setter
    def rebuild_speed_limit(self, bytes_per_second: Optional[int]) -> None:
        _core.dynamic.set_rebuild_speed_limit(self._m, bytes_per_second)

    def is_dynamic(self, number: int) -> bool:
        """Whether disk `number` is a dynamic disk (of this machine's group, or foreign)."""
        return _core.dynamic.is_dynamic(self._m, number)

    def is_pending(self, number: int) -> bool:
        """Whether disk `number` waits for a reboot to become dynamic."""
        return _core.dynamic.is_pending(self._m, number)

    @property
    def disk_group(self):
        """The machine's disk group (:class:`bootmirror.ldm.DiskGroup`), or None without dynamic
        disks. Its disks that are gone are missing (diskpart's M0, M1, ...)."""
        from . import ldm

        found = _core.dynamic.group_of(self._m)
        if found is None:
            return None
        group, devices, numbers, _foreign = found
        out = ldm.DiskGroup(group, [Disk(d) for d in devices])
        out.machine_numbers = list(numbers)
        return out

    @property
    def volumes(self):
        """The dynamic volumes (:class:`bootmirror.ldm.Volume`: name, drive letter hint, type,
        size, status, plexes), in diskpart's numbering."""
        group = self.disk_group
        return group.volumes if group is not None else []

    def dynamic_volume(self, which: Union[str, int]) -> "DynamicVolume":
        """The dynamic volume with this drive letter ("c", "C:") or number (as list volume shows
        it): its plexes, status, rebuild progress, device and verify()."""
        from .dynamic_volume import DynamicVolume

        return DynamicVolume(self, str(which))

    def diskpart(self, script: str, check: bool = False) -> str:
        """Run diskpart commands, one a line (case-insensitive, abbreviations as diskpart takes
        them); returns the transcript. ``check=True`` raises UsageError on the first failure."""
        return _core.diskpart(self._m, script, check)

    def diskpart_command(self, line: str) -> "tuple[str, bool, bool]":
        """One diskpart command: (its text, whether it succeeded, whether it was EXIT)."""
        return _core.diskpart_execute(self._m, line)

    # -- firmware: NVRAM, bootcfg and booting -------------------------------------------------------
    def create_nvram(self, template: Optional[PathLike] = None) -> "MachineNvram":
        """Give the machine its firmware's NVRAM: a copy of Debian's ``OVMF_VARS_4M.fd`` (or
        `template`) kept as ``nvram.fd`` in its folder, with the firmware's own boot entries
        (LS120, CDROM, EFI Shell) in BootOrder and a 30-second Timeout. The same file boots the
        machine under QEMU with OVMF."""
        from . import nvram

        _core.firmware_create_store(self._m, os.fspath(template) if template is not None else nvram.DEFAULT_TEMPLATE)
        return self.nvram

    @property
    def nvram(self) -> "MachineNvram":
        """The machine's NVRAM (:class:`bootmirror.firmware.MachineNvram`): variables, boot
        entries, BootOrder, Timeout, and the boot menu as bootcfg sees it. UsageError on use when
        the machine has none."""
        from .firmware import MachineNvram

        return MachineNvram(self)

    @property
    def has_nvram(self) -> bool:
        """Whether the machine has its firmware's NVRAM (see :meth:`create_nvram`)."""
        return _core.firmware_store(self._m) is not None

    def bootcfg(self, arguments: str = "", check: bool = False) -> str:
        """``bootcfg <arguments>`` as Windows Server 2003 runs it on EFI (``m.bootcfg()``,
        ``m.bootcfg("/list 0")``, ``m.bootcfg('/clone /sg {...} /tg {...} /d+ Cloned_Entry')``);
        returns its text. ``check=True`` raises UsageError with the text when it printed an
        ERROR."""
        text, ok = _core.bootcfg(self._m, arguments)
        if check and not ok:
            raise _core.UsageError(text.strip())
        return text

    def boot(self, entry: "Optional[Union[int, str]]" = None) -> "_core.BootResult":
        """Start the machine as its firmware would (:class:`bootmirror.firmware.BootResult`):
        BootNext, then BootOrder, or only `entry`, chosen as in the boot menu (a bootcfg ID, or a
        description). The entry that starts becomes BootCurrent; ``.ok`` says whether its loader
        ran and found its Windows, ``.steps`` and ``.console`` what happened."""
        return _core.firmware_boot(self._m, self._entry_number(entry) if entry is not None else None)

    def boot_qemu(self, entry: "Optional[Union[int, str]]" = None, timeout: float = 60.0) -> "_core.MachineQemuBoot":
        """Boot the machine for real: its disk images (in disk order) and its NVRAM file under
        QEMU with OVMF (Debian's qemu-system-x86 and ovmf). `entry` (a bootcfg ID or a
        description) is chosen as in the boot menu (BootNext). OVMF writes its changes into the
        NVRAM file, and the option it started becomes BootCurrent. ``.qemu`` has the console,
        the boot attempts OVMF reported and the markers a marker loader printed
        (:func:`bootmirror.qemu.build_marker_loader`); ``.loader_partition`` is the ESP the loader
        said it came from. About 5 seconds a boot."""
        number = self._entry_number(entry) if entry is not None else None
        return _core.firmware_boot_in_qemu(self._m, number, timeout)

    def repair_ldm(self) -> "List[Tuple[int, List[str]]]":
        """``ldm repair``: every disk of the machine's group whose own LDM database is damaged (a
        PRIVHEAD or TOCBLOCK copy, the VMDB, a VBLK) or behind the group's gets it rewritten whole
        from the newest consistent copy, in one crash-safe commit. Returns (disk, reasons) for each
        disk repaired; UsageError when the machine has no dynamic disk."""
        return [(disk, list(reasons)) for disk, reasons in _core.dynamic.repair_databases(self._m)]

    def check_redundancy(self, qemu: bool = False, timeout: float = 60.0) -> "redundancy.Report":
        """Does every disk boot on its own? For each disk, the boot as :meth:`boot` does it with
        every other disk gone, played on a scratch copy (nothing of this machine is written), with
        the ESP, loader, NVRAM entry and OS plex it uses, whether the machine survives losing it,
        and what to do where it fails (:class:`bootmirror.redundancy.Report`). `qemu`: also boot
        each disk alone under QEMU with OVMF, `timeout` seconds each."""
        from . import redundancy

        return redundancy.check(self, qemu, timeout)

    def _entry_number(self, entry: "Union[int, str]") -> int:
        """The Boot#### number of a bootcfg ID or a description (exact, else without regard to
        case)."""
        if isinstance(entry, int) and not isinstance(entry, bool):
            return _core.firmware_entry_number(self._m, entry)
        if isinstance(entry, str):
            entries = []
            for number in self.nvram.boot_numbers():
                try:
                    found = self.nvram.boot_entry(number)
                except _core.FormatError:
                    continue  # firmware skips an entry that does not decode: it matches no description
                if found is not None:
                    entries.append(found)
            matches = [e.number for e in entries if e.description == entry]
            matches = matches or [e.number for e in entries if e.description.lower() == entry.lower()]
            if not matches:
                raise _core.UsageError(f"no boot entry is described as {entry!r}")
            if len(matches) > 1:  # bootcfg /clone makes such twins (the runbook's recovery has two)
                ids = {e.number: e.id for e in self.nvram.entries()}
                named = ", ".join(f"Boot{n:04X}" + (f" (ID {ids[n]})" if n in ids else "") for n in matches)
                raise _core.UsageError(f"{len(matches)} boot entries are described as {entry!r}: {named}; "
                                       "choose one by its bootcfg ID")
            return matches[0]
        raise _core.UsageError("a boot entry is a bootcfg ID (int) or a description (str)")

    def add_windows_entry(self, description: str, esp: "tuple[int, int]", os: "tuple[int, int]",
                          loader_path: str = "\\EFI\\Microsoft\\WINNT50\\ia64ldr.efi", os_path: str = "\\WINDOWS",
                          os_load_options: str = "", first: bool = True) -> int:
        """Add a Windows boot entry as Windows Server 2003's setup writes one: its loader on the
        ESP `esp` and Windows' OS options naming `os` (each ``(disk, partition)`` as list partition
        numbers them), first in BootOrder unless ``first=False``. Returns its Boot#### number."""
        return _core.firmware_add_windows_entry(self._m, description, esp, loader_path, os, os_path, os_load_options, first)

    def install_windows(self, disk: int, size: "Optional[SizeLike]" = None, label: str = "",
                        description: Optional[str] = None, bootable: bool = True) -> "_core.BootResult":
        """Windows Server 2003's setup on blank disk `disk` (:mod:`bootmirror.windows_setup`): its
        ESP and MSR, a Windows partition of `size` (NTFS, the Windows tree), the loader on the ESP,
        a boot entry first in BootOrder, Timeout 5, and the restart into the new Windows. The new
        Windows has no disk group: other dynamic disks are Foreign to it. Returns the boot."""
        from . import windows_setup

        return windows_setup.install_windows(self, disk, size, label,
                                             windows_setup.SETUP_ENTRY if description is None else description, bootable)

    def add_cdrom(self, letter: str = "D") -> None:
        """Give the machine a CD-ROM drive with no disc, as list volume shows one
        ("CD-ROM 0 B Healthy")."""
        _core.add_cdrom_drive(self._m, letter)

    @property
    def cdrom_drives(self) -> "list[str]":
        """The letters of the machine's CD-ROM drives (:meth:`add_cdrom`)."""
        return _core.cdrom_drives(self._m)

    @property
    def running_system(self) -> "_core.RunningSystem":
        """What the running boot came from: its entry, the ESP its loader was on (list volume's
        System) and the volume of its Windows (list volume's Boot)."""
        return _core.firmware_running_system(self._m)

    # -- volumes and drive letters (FAT) ------------------------------------------------------------
    def format(self, drive: str, switches: str = "/fs:fat /q /y", progress: "ProgressArg" = None) -> str:
        """``format <drive> <switches>`` (e.g. ``m.format("s:", "/fs:fat /q /y")``): formats the
        volume with that drive letter and returns the text Windows prints. `progress` (a callable
        ``(done, total)`` or True for a bar) counts the bytes a full format checks and writes; see
        :mod:`bootmirror.progress` for what an interrupt leaves."""
        from .progress import run_reporting

        return run_reporting(lambda report: _core.machine_format(self._m, drive, switches, report), progress,
                             f"Format {drive}")

    def xcopy(self, source: str, destination: str, switches: str = "", progress: "ProgressArg" = None) -> str:
        """``xcopy <source> <destination> <switches>`` between drive letters
        (``m.xcopy("p:\\\\*.*", "s:", "/s /h")``); returns xcopy's listing. `progress` counts the
        bytes of the files copied; an interrupt leaves the destination as it was."""
        from .progress import run_reporting

        return run_reporting(lambda report: _core.machine_xcopy(self._m, source, destination, switches, report),
                             progress, "xcopy")

    def assign_letter(self, disk: int, partition: int, letter: str) -> None:
        """Give a basic volume (partition `partition` of disk `disk`, numbered as diskpart's list
        partition numbers them) the drive letter `letter` ("C" or "C:"), as ``assign letter=C``
        does, without moving diskpart's focus."""
        _core.machine_assign_letter(self._m, disk, partition, letter)

    def volume(self, drive: str) -> "Union[fat.Volume, ntfs.Volume]":
        """The file system on the volume with this drive letter: a FAT volume (shared with format
        and xcopy) or a read-only NTFS volume, as the volume's bytes say."""
        from . import fat, ntfs

        device = self.drive_device(drive)
        if _core.file_system_on(device)[0] == "NTFS":
            return ntfs.Volume(_core.NtfsVolume.open(device))
        return fat.Volume(_core.machine_volume(self._m, drive))

    def esp(self, disk: int) -> "fat.Volume":
        """The FAT file system on disk `disk`'s EFI system partition, with or without a drive
        letter (UsageError when the disk has none): for comparing a shadow disk's ESP with the
        primary's (:func:`bootmirror.fat.compare_trees`)."""
        from . import fat

        return fat.Volume(_core.machine_esp(self._m, disk))

    def drive_device(self, drive: str) -> _core.BlockDevice:
        """The bytes behind a drive letter: a basic volume's partition, or a dynamic volume (reads
        from a healthy plex, writes to every plex of a mirror)."""
        return _core.machine_drive_device(self._m, drive)

    @property
    def drive_letters(self) -> Dict[str, "tuple[int, int]"]:
        """Assigned letters: {"S": (disk number, partition number)}."""
        return {letter: (disk, partition) for letter, disk, partition in _core.machine_drive_letters(self._m)}

    def __repr__(self) -> str:
        where = f" {self.folder!r}" if self.folder else " (in memory)"
        return f"<Machine{where} disks {self._m.disk_numbers}>"

    def _repr_html_(self) -> str:
        """The disks (each drawn to scale with its partitions), the disk group and the boot menu."""
        from . import _html

        parts = []
        rows = []
        for number, disk in self.disks.items():
            if disk is None:
                rows.append((f"M{self._m.missing_index(number)}", "missing", "", ""))
                continue
            rows.append((number, disk.path or disk.name, _core.describe_size(disk.size), disk.sector_size))
            try:
                drawn = disk.partitions._repr_html_()
            except (_core.FormatError, OSError) as e:
                drawn = f"<p>{_html.escape(e)}</p>"
            parts.append(f"<h4>Disk {number}</h4>{drawn}")
        html = _html.table(("disk", "image", "size", "sector size"), rows, self.folder or "Machine in memory")
        html += "".join(parts)
        try:
            group = self.disk_group
            if group is not None:
                html += group._repr_html_()
            if self.has_nvram:
                html += self.nvram._repr_html_()
        except (_core.FormatError, _core.UsageError, OSError) as e:
            html += f"<p>{_html.escape(e)}</p>"
        return html

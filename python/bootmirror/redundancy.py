"""Does every disk boot on its own? For each disk of a machine, the boot as firmware and Windows'
loader would do it with every other disk gone, played on a scratch copy of the machine (its
images and NVRAM are never written), and what to do where it fails::

    report = machine.check_redundancy()          # or bootmirror check -m lab [--qemu]
    print(report)                                # the table, then each problem with its advice
    report.survives_loss_of_any_disk             # False: losing some disk leaves no boot
    [d.advice for d in report.disks]             # "bootcfg /clone /sg {...} /tg {...} /d+ Disk1", ...

Mirrored boot disks lose their redundancy silently: the shadow's ESP drifts from the primary's,
a boot entry names a partition that is gone, the firmware's shell comes before the shadow's entry
in BootOrder, a plex is still being copied. The engine decides every verdict with the same boot
that :meth:`bootmirror.Machine.boot` runs; this module presents its answers.

With ``qemu=True`` each disk also boots alone for real under QEMU with OVMF (only that disk's
image, attached read-only, and a private copy of the NVRAM file): QEMU cannot run Windows, so what
it proves is the firmware's part (which entry starts, and from which ESP when the loader is a
marker loader); ``real.agrees`` says whether the check predicted it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import _core, _html

__all__ = ["DiskAlone", "RealBoot", "Report", "check"]

#: One disk with every other disk gone (the engine's answer).
DiskAlone = _core.RedundancyDisk
#: One disk booted alone under QEMU with OVMF.
RealBoot = _core.RedundancyRealBoot

HEADERS = ("Disk", "ESP", "Loader", "NVRAM entry", "OS plex", "Alone", "Without it")


def _esp_text(d: DiskAlone) -> str:
    return f"partition {d.esp.number} {{{d.esp.guid}}}" if d.esp is not None else "none"


def _loader_text(d: DiskAlone) -> str:
    if d.esp is None:
        return "-"
    return "present" if d.loader_present else "missing"


def _entry_text(d: DiskAlone) -> str:
    return f"Boot{d.entry:04X} {d.entry_description}" if d.entry is not None else "none starts"


def _verdict(d: DiskAlone) -> str:
    if not d.boots:
        return "FAILS"
    return "boots, ESP drifted" if d.esp_differences else "boots"


def _real_text(d: DiskAlone) -> str:
    real = d.real
    if real is None:
        return ""
    started = f"Boot{real.entry:04X}" if real.entry is not None else "nothing"
    where = f" from disk {real.loader_partition.disk}'s ESP" if real.loader_partition is not None else ""
    return f"{started} started{where} ({'as predicted' if real.agrees else 'NOT as predicted'})"


class Report:
    """What :func:`check` found: a row per present disk (:attr:`disks`), the machine's own boot
    (:attr:`whole`) and the verdict (:attr:`survives_loss_of_any_disk`). ``str()`` is the table
    ``bootmirror check`` prints; :meth:`to_dict` its JSON; in Jupyter it shows as a table."""

    def __init__(self, report: "_core.RedundancyReport") -> None:
        self._r = report

    @property
    def disks(self) -> List[DiskAlone]:
        """Each present disk alone, in disk order."""
        return list(self._r.disks)

    @property
    def whole(self) -> "_core.BootResult":
        """The boot with every present disk (the machine's own)."""
        return self._r.whole

    @property
    def reference_esp(self) -> "Optional[_core.FirmwarePartition]":
        """The ESP the machine's own boot loads from: the one the others are compared with."""
        return self._r.reference_esp

    @property
    def missing(self) -> List[int]:
        """Disks that are missing already (not checked: they are gone)."""
        return list(self._r.missing)

    @property
    def survives_loss_of_any_disk(self) -> bool:
        """Losing any one present disk leaves a machine that boots what it boots now."""
        return bool(self._r.survives_loss_of_any_disk)

    @property
    def problems(self) -> List[str]:
        """Every problem of every disk, "disk N: ..." each."""
        return [f"disk {d.disk}: {p}" for d in self._r.disks for p in d.problems]

    def rows(self) -> List[List[str]]:
        """The table's rows as text (:data:`HEADERS`, plus "QEMU" when the check booted for real)."""
        real = any(d.real is not None for d in self._r.disks)
        return [[str(d.disk), _esp_text(d), _loader_text(d), _entry_text(d), d.os_plex or "-", _verdict(d),
                 "boots" if d.survives_loss else "FAILS"] + ([_real_text(d)] if real else []) for d in self._r.disks]

    def headers(self) -> List[str]:
        """The table's column names."""
        real = any(d.real is not None for d in self._r.disks)
        return list(HEADERS) + (["QEMU"] if real else [])

    def summary(self) -> str:
        """One sentence: the verdict."""
        if not self._r.whole.ok:
            return "The machine does not boot even with all its disks."
        lost = [d.disk for d in self._r.disks if not d.survives_loss]
        if not lost:
            return "Losing any one disk leaves a machine that boots."
        names = ", ".join(f"disk {n}" for n in lost)
        return f"Losing {names} leaves the machine unbootable."

    def __str__(self) -> str:
        headers, rows = self.headers(), self.rows()
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(headers, widths)).rstrip(),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if self._r.missing:
            lines.append("Missing already: " + ", ".join(f"disk {n}" for n in self._r.missing))
        for d in self._r.disks:
            for problem, advice in zip(d.problems, d.advice):
                lines += [f"disk {d.disk}: {problem}", f"    what to do: {advice}"]
        lines.append(self.summary())
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, Any]:
        """The report as JSON-ready values (``bootmirror check --json``)."""
        def place(p: Any) -> Any:
            return None if p is None else {"disk": p.disk, "partition": p.number, "guid": p.guid}

        def disk(d: DiskAlone) -> Dict[str, Any]:
            out: Dict[str, Any] = {
                "disk": d.disk, "esp": place(d.esp), "loader": d.loader, "loader_present": d.loader_present,
                "entry": d.entry, "entry_description": d.entry_description, "os_plex": d.os_plex,
                "boots_alone": d.boots, "survives_loss": d.survives_loss, "steps": list(d.boot.steps),
                "problems": [{"problem": p, "advice": a} for p, a in zip(d.problems, d.advice)],
                "esp_differences": [{"path": x.path, "change": x.change, "source": x.source_value, "target": x.target_value}
                                    for x in d.esp_differences],
            }
            if d.real is not None:
                out["qemu"] = {"entry": d.real.entry, "loader_partition": place(d.real.loader_partition),
                               "agrees": d.real.agrees, "seconds": d.real.qemu.seconds}
            return out

        return {"survives_loss_of_any_disk": self.survives_loss_of_any_disk, "boots": self._r.whole.ok,
                "reference_esp": place(self._r.reference_esp), "missing": self.missing,
                "disks": [disk(d) for d in self._r.disks], "summary": self.summary()}

    def _repr_html_(self) -> str:
        notes = [(f"disk {d.disk}: {p}", a) for d in self._r.disks for p, a in zip(d.problems, d.advice)]
        html = _html.table(self.headers(), self.rows(), caption=self.summary())
        if notes:
            html += _html.table(["Problem", "What to do"], notes)
        return html

    def __repr__(self) -> str:
        return f"<RedundancyReport {len(self._r.disks)} disks: {self.summary()}>"


def check(machine: Any, qemu: bool = False, timeout: float = 60.0) -> Report:
    """Check that every disk of `machine` (a :class:`bootmirror.Machine`) boots on its own; with
    `qemu`, also boot each disk alone under QEMU with OVMF (`timeout` seconds each). UsageError when
    the machine has no NVRAM."""
    return Report(_core.redundancy_check(machine._m, qemu, timeout))

"""Helpers shared by the LDM tests: what ldmtool (libldm) shows of a set of disks, and the check that
it shows a group exactly as bootmirror reads it."""

from __future__ import annotations

import json

from bootmirror import ldm
from conftest import run_tool


def show(paths, *args):
    devs = [a for p in paths for a in ("-d", str(p))]
    return json.loads(run_tool(["ldmtool", *devs, "show", *args]).stdout)


def scan(paths):
    result = run_tool(["ldmtool", "scan", *map(str, paths)])
    assert "Error" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def assert_ldmtool_sees(group: ldm.DiskGroup, paths):
    """Every object of `group` as ldmtool shows it."""
    assert scan(paths) == [group.guid]
    dg = show(paths, "diskgroup", group.guid)
    assert dg["name"] == group.name
    assert sorted(dg["volumes"]) == sorted(v.name for v in group.volumes)
    assert sorted(dg["disks"]) == sorted(d.name for d in group.disks)
    for v in group.volumes:
        want = show(paths, "volume", group.guid, v.name)
        layout = {"raid5": "RAID5"}.get(v.layout, v.layout)  # ldmtool's spelling
        assert (want["guid"], want["type"], want["size"], want.get("hint")) == (v.guid, layout, v.size, v.drive_hint)
        assert want["partitions"] == [p.name for p in v.partitions]
        for p in v.partitions:
            assert show(paths, "partition", group.guid, p.name) == {
                "name": p.name, "start": p.start, "size": p.size, "disk": p.disk.name}
    for d in group.disks:
        wd = show(paths, "disk", group.guid, d.name)
        assert (wd["name"], wd["guid"], wd["present"]) == (d.name, d.guid, d.present)
        if d.present:
            assert (wd["data-start"], wd["data-size"], wd["metadata-start"], wd["metadata-size"]) == (
                d.data_start, d.data_size, d.config_start, d.config_size)

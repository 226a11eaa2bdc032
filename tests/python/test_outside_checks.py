"""bootmirror.outside_checks when an outside tool answers something other than what it usually
prints: each check fails with the tool's own words, never a Python error of ours."""

from __future__ import annotations

import os

from bootmirror import outside_checks
from ldm_helpers import dynamic_boot_machine


def test_a_tool_that_prints_no_report_fails_its_check_with_what_it_said(tmp_path, monkeypatch):
    machine = dynamic_boot_machine(tmp_path / "lab")
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    # ldmtool's error where its JSON should be; sgdisk silent on stdout, its complaint on stderr.
    for tool, script in (("ldmtool", "echo 'ldmtool: out of memory'"), ("sgdisk", "echo 'sgdisk: cannot open' >&2")):
        fake = bin_folder / tool
        fake.write_text(f"#!/bin/sh\n{script}\nexit 1\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ['PATH']}")
    checks = {check.tool: check for check in outside_checks.run_checks(machine)}
    assert not checks["ldmtool"].ok and checks["ldmtool"].detail == "ldmtool: out of memory"
    assert not checks["sgdisk"].ok and checks["sgdisk"].detail == "sgdisk: cannot open"

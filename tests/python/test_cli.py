"""The bootmirror command line: every verb, its --json documents and errors, its exit codes, and
the whole of KB 814070 run by a command-line-only user."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

import bootmirror
from bootmirror import cli, cli_json, fat, gpt
from conftest import require_tool


def cli_run(*args: str) -> Tuple[int, str, str]:
    """One command in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def cli_json_run(*args: str) -> Tuple[int, dict]:
    code, out, _ = cli_run(*args, "--json")
    doc = json.loads(out)
    assert doc["schema"] == "bootmirror/1"
    return code, doc


def cli_process(*args: str, input: str = "", **kwargs) -> subprocess.CompletedProcess:
    """One command as a user runs it: the console script's module in a new process."""
    return subprocess.run([sys.executable, "-m", "bootmirror", *map(str, args)], input=input, capture_output=True,
                          text=True, **kwargs)


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def lab(tmp_path) -> Path:
    """The runbook's machine, made by the command line."""
    code, out, err = cli_run("machine", "new", tmp_path / "lab", "--kb814070")
    assert code == 0, err
    assert "Disk 1: " in out and "NVRAM" in out
    return tmp_path / "lab"


def test_every_verb_has_help_that_names_its_options_and_the_exit_codes():
    parser = cli.build_parser()
    verbs = {"machine new", "machine create", "machine show", "machine close", "disk create", "disk show",
             "disk verify", "disk repair", "disk attach", "disk fail", "disk replace", "disk reactivate", "diskpart",
             "bootcfg", "format", "xcopy", "boot", "check", "reboot", "resync", "wait", "verify", "fat check", "ldm show",
             "esp diff", "esp sync", "ldm repair"}
    for name in verbs:
        with pytest.raises(SystemExit) as shown:
            out = io.StringIO()
            sys_stdout, sys.stdout = sys.stdout, out
            try:
                parser.parse_args([*name.split(), "--help"])
            finally:
                sys.stdout = sys_stdout
        assert shown.value.code == 0
        text = out.getvalue()
        assert "--json" in text and "exit codes: 0 done; 1 a check found a problem" in text, name
        assert "3 bad on-disk data" in text and "4 I/O" in text, name


def test_a_command_builds_only_its_verb_and_reads_as_the_whole_parser_does(capsys):
    # main() builds the parser of the verb named alone (the others cost more than `disk show`
    # itself); the verb's help and its parsing are those of the whole parser.
    whole = cli.build_parser()
    for argv in (["disk", "show", "x.img", "--sector-size", "4096", "--json"], ["machine", "create", "lab", "--disk", "1GiB"],
                 ["diskpart", "-m", "lab", "/s", "x.txt", "--no-wait"], ["fat", "check", "s:", "-m", "lab", "--repair"],
                 ["ldm", "show", "a.img", "b.img"]):
        narrow = cli.build_parser(argv)
        assert vars(narrow.parse_args(argv)) == vars(whole.parse_args(argv)), argv
        for parser in (narrow, whole):
            with pytest.raises(SystemExit):
                parser.parse_args([*argv[:2], "--help"] if argv[0] in ("disk", "machine", "fat", "ldm") else [argv[0], "--help"])
        helps = capsys.readouterr().out.split("usage: ")
        assert helps[1] == helps[2], argv
    # A verb or action that does not exist: the error lists every one there is.
    code, _, err = cli_run("disk", "bogus")
    assert code == 2 and "'create', 'show', 'verify', 'repair'" in err
    code, _, err = cli_run("bogus")
    assert code == 2 and "'machine', 'disk', 'diskpart'" in err


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_a_script_saved_as_windows_tools_save_one_runs(lab, tmp_path, encoding):
    """An ANSI script ("café" in a rem line) raised UnicodeDecodeError, and --json printed nothing."""
    path = tmp_path / "s.txt"
    path.write_bytes("select disk 0\r\nrem café\r\n".encode(encoding))
    code, out, _ = cli_run("diskpart", "-m", lab, "/s", path, "--json")
    commands = json.loads(out[out.index("{\n"):])["commands"]
    assert code == 0 and [c["command"] for c in commands] == ["select disk 0", "rem café"]


def test_the_whole_runbook_from_the_command_line(lab, tmp_path):
    # Prepare the Shadow Drive for Mirroring, steps 2 to 5.
    code, out, _ = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "prepare.txt", bootmirror.kb814070.PREPARE_SHADOW_PARTITIONS + "Select disk 1\nSelect partition 1\nAssign letter=S\n"))
    assert code == 0
    assert " Partition 1    System             204 MB    17 KB" in out
    # Step 6 and 8 at the command prompt, step 7 at diskpart's.
    code, out, _ = cli_run("format", "-m", lab, "s:", "/fs:fat", "/q", "/y")
    assert code == 0 and "       52,168 allocation units available on disk." in out
    code, _, _ = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "p.txt", bootmirror.kb814070.ASSIGN_PRIMARY_ESP))
    assert code == 0
    code, out, _ = cli_run("xcopy", "-m", lab, "p:\\*.*", "s:", "/s", "/h")
    assert code == 0 and out.endswith("p:\\MSUtil\\nvrboot.efi\n7 File(s) copied\n")
    # Step 9, then Convert the Primary and Shadow Drives to Dynamic.
    code, out, _ = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "convert.txt", bootmirror.kb814070.REMOVE_ESP_LETTERS
                                                                 + bootmirror.kb814070.CONVERT_TO_DYNAMIC + "Exit\n"))
    assert code == 0 and "You must reboot your computer to complete this operation.\n\nDISKPART> Exit\n\nLeaving Diskpart..." in out
    code, doc = cli_json_run("machine", "show", lab)
    assert [d["pending_conversion"] for d in doc["machine"]["disks"]] == [True, False]
    # "Shut down and restart your computer to complete the conversion of the system drive".
    code, out, _ = cli_run("reboot", "-m", lab)
    assert code == 0 and out == "LOADING.: Windows 2003 Server, Enterprise\n"
    code, doc = cli_json_run("machine", "show", lab)
    assert [d["dynamic"] for d in doc["machine"]["disks"]] == [True, True]
    # Establish a Mirror; diskpart waits for the copy before it exits.
    code, doc = cli_json_run("diskpart", "-m", lab, "/s", script(tmp_path, "mirror.txt", bootmirror.kb814070.MIRROR_BOOT_VOLUME))
    assert code == 0 and doc["ok"] and doc["rebuilds_finished"]
    assert doc["commands"][-1] == {"command": "add disk=1", "text": "Diskpart succeeded in adding a mirror to the volume.", "ok": True}
    code, out, _ = cli_run("verify", "-m", lab)
    assert code == 0 and out.startswith("Volume 0 (Healthy): the plexes are identical")
    # Use Bootcfg.exe to Add New EFI Partition Boot Entries to NVRAM.
    code, out, _ = cli_run("bootcfg", "-m", lab)
    assert code == 0 and "Boot entry ID:    5\nOS Friendly Name: Boot Mirror C: - secondary plex" in out
    source = re.search(r"Partition GUID:   (\{[0-9a-f-]+\})", cli_run("bootcfg", "-m", lab, "/list", "0")[1]).group(1)
    target = re.search(r"Partition GUID:   (\{[0-9a-f-]+\})", cli_run("bootcfg", "-m", lab, "/list", "1")[1]).group(1)
    code, out, _ = cli_run("bootcfg", "-m", lab, "/clone", "/sg", source, "/tg", target, "/d+", "Cloned_Entry")
    assert code == 0 and out == ("INFO: Boot entry whose id is '1' successfully cloned.\n"
                                 "INFO: Boot entry whose id is '5' successfully cloned.\n"
                                 "SUCCESS: The operation completed successfully.\n")
    code, doc = cli_json_run("bootcfg", "-m", lab, "--check")
    assert code == 0 and doc["stale"] == [] and len(doc["entries"]) == 7
    # Test-Boot the Shadow Drive, with disk 0 there and then with disk 0 dead.
    code, out, _ = cli_run("reboot", "-m", lab, "--entry", "Boot Mirror C: - secondary plex Cloned_Entry")
    assert code == 0 and out == "LOADING.: Boot Mirror C: - secondary plex Cloned_Entry\n"
    assert cli_run("disk", "fail", "-m", lab, "0")[0] == 0
    code, doc = cli_json_run("boot", "-m", lab, "--entry", "7")
    assert code == 0 and doc["boot"]["ok"] and doc["boot"]["loader_partition"]["disk"] == 1
    code, doc = cli_json_run("boot", "-m", lab, "--entry", "1")
    assert code == 1 and "Load of Windows 2003 Server, Enterprise failed:  Not Found" in doc["boot"]["console"]
    code, out, _ = cli_run("bootcfg", "-m", lab, "--check")
    assert code == 1 and 'Stale boot entry Boot0003 "Windows 2003 Server, Enterprise": its ESP' in out
    # Re-Establish the mirror onto a new disk 0 (the Windows setup of the article's recovery left out).
    code, doc = cli_json_run("disk", "replace", "-m", lab, "0", "--size", "10GiB")
    assert code == 0
    code, out, _ = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "break.txt", """\
select volume 0
break disk=m0 nokeep
select disk m0
delete disk
select disk 0
convert gpt
convert dynamic
select volume 0
add disk=0
list volume
"""))
    assert code == 0, out
    assert "Diskpart successfully broke the mirror volume." in out and "Diskpart successfully deleted the missing disk." in out
    code, doc = cli_json_run("verify", "-m", lab)
    assert code == 0 and doc["identical"] and [p["state"] for p in doc["volumes"][0]["plexes"]] == ["in sync", "in sync"]
    code, doc = cli_json_run("ldm", "show", "-m", lab)
    assert [d["machine_number"] for d in doc["group"]["disks"]] == [1, 0]
    assert doc["group"]["volumes"][0]["status"] == "Healthy"


def test_every_verb_prints_a_json_document_with_the_schema(lab, tmp_path):
    documents = [
        ("machine show", ["machine", "show", lab]),
        ("disk show", ["disk", "show", "-m", lab, "0"]),
        ("disk verify", ["disk", "verify", "-m", lab, "0"]),
        ("disk repair", ["disk", "repair", "-m", lab, "0"]),
        ("disk create", ["disk", "create", "-m", lab, "1GiB"]),
        ("disk create", ["disk", "create", tmp_path / "loose.img", "64MiB"]),
        ("diskpart", ["diskpart", "-m", lab, "-s", script(tmp_path, "l.txt", "list disk\n")]),
        ("bootcfg", ["bootcfg", "-m", lab, "/list", "0"]),
        ("boot", ["boot", "-m", lab]),
        ("reboot", ["reboot", "-m", lab]),
        ("wait", ["wait", "-m", lab]),
        ("resync", ["resync", "-m", lab]),
        ("verify", ["verify", "-m", lab]),
        ("fat check", ["fat", "check", "-m", lab, "--disk", "0", "--partition", "1"]),
        ("ldm show", ["ldm", "show", "-m", lab]),
        ("machine close", ["machine", "close", lab]),
    ]
    for command, argv in documents:
        code, doc = cli_json_run(*argv)
        assert code == 0, (command, doc)
        assert doc["command"] == command and "error" not in doc
    code, doc = cli_json_run("fat", "check", "-m", lab, "--disk", "0", "--partition", "1")
    assert doc["report"]["clean"] and doc["report"]["files"] == 7
    code, doc = cli_json_run("disk", "show", "-m", lab, "0")
    assert [p["kind"] for p in doc["partitions"]] == ["efi", "basic", "msr"]
    assert doc["partitions"][0]["offset"] == 32_256
    code, doc = cli_json_run("machine", "show", lab)
    assert doc["machine"]["nvram"]["entries"][0]["description"] == "Windows 2003 Server, Enterprise"
    assert doc["machine"]["drive_letters"] == {"C:": {"disk": 0, "partition": 2}}
    assert doc["machine"]["disks"][2]["size"] == 1 << 30


def test_errors_are_json_documents_with_an_exit_code_per_kind(lab, tmp_path):
    # Usage: an unknown verb, a missing disk, an option that would be ignored.
    for argv in (["disk", "shw"], ["disk", "show", "-m", lab, "9"], ["boot", "-m", lab, "--timeout", "5"],
                 ["machine", "new", tmp_path / "x", "--kb814070", "--disk", "1GiB"],
                 ["xcopy", "-m", lab, "c:\\*.*", "c:", "/y"], ["format", "-m", lab, "c:", "/fs:fat"]):
        code, doc = cli_json_run(*argv)
        assert (code, doc["error"]["type"]) == (cli_json.USAGE, "UsageError"), argv
    assert not (tmp_path / "x").exists()
    # Bad on-disk data: the boot partition holds NTFS, not FAT; a FormatError carries its offset.
    code, doc = cli_json_run("fat", "check", "-m", lab, "--disk", "0", "--partition", "3")
    assert (code, doc["error"]["type"]) == (cli_json.BAD_DATA, "FormatError")
    assert "offset" in doc["error"]
    # I/O: an image that is not there.
    code, doc = cli_json_run("disk", "show", tmp_path / "none.img")
    assert (code, doc["error"]["type"], doc["error"]["class"]) == (cli_json.IO_ERROR, "OSError", "FileNotFoundError")
    assert doc["error"]["errno"] == 2 and doc["error"]["filename"].endswith("none.img")
    # Without --json, one line on stderr.
    code, out, err = cli_run("disk", "show", tmp_path / "none.img")
    assert code == cli_json.IO_ERROR and out == "" and err.startswith("bootmirror: ")


def test_a_refused_command_leaves_no_files_behind(tmp_path):
    # machine new makes its folder before a later --disk is parsed, and the article's machine
    # its disks before the layout is found not to fit: a retry found the folder taken.
    for argv in (["machine", "new", tmp_path / "lab", "--disk", "8MiB", "--disk", "bogus"],
                 ["machine", "new", tmp_path / "kb", "--kb814070", "--disk-size", "1GiB"]):
        code, doc = cli_json_run(*argv)
        assert (code, doc["error"]["type"]) == (cli_json.USAGE, "UsageError"), argv
        assert not argv[2].exists(), argv
    code, _ = cli_json_run("machine", "new", tmp_path / "lab", "--disk", "8MiB")
    assert code == cli_json.OK
    before = sorted(p.name for p in (tmp_path / "lab").iterdir())
    code, doc = cli_json_run("disk", "replace", "-m", tmp_path / "lab", "7", "--size", "8MiB")
    assert (code, doc["error"]["message"]) == (cli_json.USAGE, "there is no disk 7")
    assert sorted(p.name for p in (tmp_path / "lab").iterdir()) == before


def test_a_folder_the_system_cannot_use_is_an_os_error_document(tmp_path):
    (tmp_path / "afile").write_text("")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    for argv in (["machine", "new", tmp_path / "afile"], ["machine", "new", tmp_path / "afile" / "lab"],
                 ["machine", "show", tmp_path / ("a" * 300)], ["machine", "show", tmp_path / "loop1" / "x"]):
        code, doc = cli_json_run(*argv)
        assert (code, doc["error"]["type"]) == (cli_json.IO_ERROR, "OSError"), (argv, doc)


def test_json_documents_stay_valid_for_paths_that_are_not_utf8(tmp_path):
    # A host path is bytes: os.fsdecode gives lone surrogates for what is not UTF-8, which stdout
    # cannot write raw; every document must still parse, whatever stdout's encoding.
    folder = os.fsencode(tmp_path / "lab")
    cli_json_run("machine", "new", os.fsdecode(folder), "--disk", "8MiB")
    name = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.img")
    bootmirror.Disk.create(name, 8 << 20).close()
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    missing = os.fsdecode(os.fsencode(tmp_path) + b"/nope\xe9")
    docs = []
    for argv in (["disk", "attach", "-m", os.fsdecode(folder), name], ["machine", "show", os.fsdecode(folder)],
                 ["machine", "show", missing]):
        done = subprocess.run([sys.executable, "-m", "bootmirror", *argv, "--json"], capture_output=True,
                              env=environment)
        docs.append(json.loads(done.stdout))
        assert docs[-1]["schema"] == "bootmirror/1", argv
    assert docs[1]["machine"]["disks"][1]["image"] == name
    assert docs[2]["error"]["filename"].startswith(missing)


def test_disk_verify_and_repair_of_an_image(tmp_path):
    image = tmp_path / "d.img"
    assert cli_run("disk", "create", image, "128MiB")[0] == 0
    with bootmirror.Disk.open(image, writable=True) as disk:
        disk.convert_gpt()
        disk.write(512, b"\0" * 512)  # the primary header
    code, doc = cli_json_run("disk", "verify", image)
    assert code == cli_json.CHECK_FAILED and not doc["clean"] and not doc["gpt"]["primary"]["valid"]
    code, doc = cli_json_run("disk", "repair", image)
    assert code == 0 and doc["rewritten"] and doc["gpt"]["clean"]
    assert cli_run("disk", "verify", image)[0] == 0
    code, out, _ = cli_run("disk", "show", image)
    assert "Microsoft reserved partition" in out and "GPT" in out


def test_fat_check_finds_and_repairs_a_lost_cluster(tmp_path):
    image = tmp_path / "esp.img"
    with bootmirror.Disk.create(image, "128MiB") as disk:
        disk.convert_gpt()
        disk.delete_partition(1, override=True)
        part = disk.create_partition("efi", "32MiB")
        esp = disk.slice(part.offset, part.size)
        fat.format(esp)
        with fat.open(esp) as volume:
            volume.write_bytes("a.txt", b"x" * 10000)
            first = volume.stat("a.txt").first_cluster
            volume.remove("a.txt")
        # Mark the freed chain used again: lost clusters.
        geometry = fat.open(esp).geometry
        fat_offset = geometry.reserved_sectors * geometry.bytes_per_sector
        esp.write(fat_offset + 2 * first, b"\xff\xff")
    code, doc = cli_json_run("fat", "check", "--image", image, "--partition", "1")
    assert code == cli_json.CHECK_FAILED and not doc["report"]["clean"]
    code, doc = cli_json_run("fat", "check", "--image", image, "--partition", "1", "--repair")
    assert code == 0 and all(p["repaired"] for p in doc["report"]["problems"])
    assert cli_run("fat", "check", "--image", image, "--partition", "1")[0] == 0


def test_format_without_y_asks_first(lab, tmp_path):
    cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "s.txt", "select disk 1\nconvert gpt\nselect partition 1\n"
                                                "delete partition override\ncreate partition efi size=64\nassign letter=S\n"))
    refused = cli_process("format", "-m", lab, "s:", "/fs:fat", "/q", input="n\n")
    assert refused.returncode == 1
    assert refused.stdout == "WARNING, ALL DATA ON NON-REMOVABLE DISK\nDRIVE S: WILL BE LOST!\nProceed with Format (Y/N)? n\n"
    with bootmirror.Machine.open(lab) as m:
        assert "RAW" in m.diskpart("list volume") or "FAT" not in m.diskpart("list volume").split("Volume 2")[-1]
    done = cli_process("format", "-m", lab, "s:", "/fs:fat", "/q", input="y\n")
    assert done.returncode == 0 and "Proceed with Format (Y/N)? y\nThe type of the file system is RAW." in done.stdout


def test_bootcfg_refusal_exits_1_and_its_arguments_keep_their_spaces(lab):
    code, out, _ = cli_run("bootcfg", "-m", lab, "/delete", "/ID", "42")
    assert code == cli_json.CHECK_FAILED and out.startswith("ERROR:")
    code, out, _ = cli_run("bootcfg", "-m", lab, "/clone", "/sg", "{00000000-0000-0000-0000-000000000001}", "/tg",
                           "{00000000-0000-0000-0000-000000000002}", "/d+", "Two words")
    assert code == cli_json.CHECK_FAILED  # no entry on that ESP; the description reached bootcfg whole
    assert "Two" not in out or "words" in out


def test_diskpart_prompt_keeps_a_history_between_sessions(lab, tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"), TERM="dumb")

    def session(keys: List[bytes]) -> str:
        """Type each key at a DISKPART> prompt; the screen as text."""
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover - the child
            os.execve(sys.executable, [sys.executable, "-m", "bootmirror", "diskpart", "-m", str(lab)], env)
        seen = b""

        def read_until(done) -> None:
            nonlocal seen
            deadline = time.monotonic() + 30
            while not done():
                assert time.monotonic() < deadline, seen.decode(errors="replace")
                if select.select([fd], [], [], 0.2)[0]:
                    try:
                        seen += os.read(fd, 4096)
                    except OSError:  # the child has gone
                        return

        read_until(lambda: seen.rstrip().endswith(b"DISKPART>"))
        for key in keys:
            prompts = seen.count(b"DISKPART>")
            os.write(fd, key)
            read_until(lambda: seen.count(b"DISKPART>") > prompts and seen.rstrip().endswith(b"DISKPART>")
                       or b"Leaving Diskpart..." in seen)
        read_until(lambda: False if b"Leaving Diskpart..." not in seen else True)
        os.waitpid(pid, 0)
        os.close(fd)
        return seen.decode(errors="replace").replace("\r\n", "\n")

    first = session([b"select disk 1\r", b"exit\r"])
    assert "On computer: LAB" in first and "Disk 1 is now the selected disk." in first
    assert "Leaving Diskpart..." in first
    # The next session: the up arrow brings back "exit", and before it "select disk 1".
    second = session([b"\x1b[A\x1b[A\r", b"\x04"])
    assert second.count("Disk 1 is now the selected disk.") == 1
    assert "Leaving Diskpart..." in second  # end of input leaves as EXIT does
    assert (tmp_path / "state" / "bootmirror" / "diskpart_history").read_text().splitlines()[-1] == "select disk 1"


def test_an_interrupted_wait_leaves_the_copy_to_resume(lab, tmp_path):
    prepared = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "c.txt", "select disk 1\nconvert gpt\nconvert dynamic\n"
                                                           "select disk 0\nconvert dynamic\n"))
    assert prepared[0] == 0
    assert cli_run("reboot", "-m", lab)[0] == 0
    # Held to 16 MiB/s, the copy of C: takes minutes; the command is interrupted as Ctrl-C does.
    process = subprocess.Popen([sys.executable, "-m", "bootmirror", "diskpart", "-m", str(lab), "/s",
                                str(script(tmp_path, "m.txt", "select volume c\nadd disk=1\n")), "--speed-limit", "16MiB",
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Progress lines until one shows bytes copied: the copy is running and has copied some.
    for line in process.stderr:
        progress = json.loads(line)["progress"]
        assert progress["task"] == "rebuild"
        if progress["done"] > 0:
            break
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == cli_json.INTERRUPTED
    assert json.loads(out)["error"]["type"] == "Interrupted"
    code, doc = cli_json_run("machine", "show", lab)
    (rebuild,) = doc["machine"]["rebuilds"]
    assert 0 < rebuild["done"] < rebuild["total"]
    code, doc = cli_json_run("wait", "-m", lab, "--timeout", "0.1", "--speed-limit", "0")
    assert code == cli_json.CHECK_FAILED and not doc["rebuilds_finished"]
    code, doc = cli_json_run("wait", "-m", lab)
    assert code == 0 and doc["rebuilds_finished"] and doc["rebuilds"] == []
    assert cli_json_run("verify", "-m", lab)[1]["identical"]


def test_format_and_xcopy_report_progress_as_json_lines(lab, tmp_path):
    prepared = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "p.txt", bootmirror.kb814070.PREPARE_SHADOW_PARTITIONS
                                                           + "Select disk 1\nSelect partition 1\nAssign letter=S\n"
                                                           + bootmirror.kb814070.ASSIGN_PRIMARY_ESP))
    assert prepared[0] == 0
    for args, task in ((("format", "-m", lab, "s:", "/fs:fat", "/y"), "format"),   # a full format: zeroes 204 MB
                       (("xcopy", "-m", lab, "p:\\*.*", "s:", "/s", "/h"), "xcopy")):
        code, out, err = cli_run(*args, "--json")
        assert code == 0 and json.loads(out)["text"]
        lines = [json.loads(line) for line in err.splitlines()]
        assert lines and all(line["schema"] == "bootmirror/1" and line["progress"]["task"] == task for line in lines)
        done = [line["progress"]["done"] for line in lines]
        total = lines[-1]["progress"]["total"]
        assert total > 0 and done == sorted(done) and done[-1] == total
    with bootmirror.Machine.open(lab) as machine:  # the xcopy counted the bytes of the files it copied
        esp = machine.volume("s")
        assert total == sum(esp.stat(f"{top}/{name}").size for top, _, names in esp.walk("") for name in names)


def test_machine_close_waits_for_the_process_that_holds_it(lab):
    holder = bootmirror.Machine.open(lab)
    holder.oem_codepage = "cp850"  # a write: takes the folder's write lock
    code, doc = cli_json_run("machine", "close", lab, "--timeout", "0.2")
    assert code == cli_json.CHECK_FAILED and str(os.getpid()) in doc["held_by"]
    holder.close()
    code, out, _ = cli_run("machine", "close", lab)
    assert code == 0 and out.startswith(f"The machine in {lab} is closed.")


def test_ldm_show_and_disk_commands_on_image_files(tmp_path):
    images = [tmp_path / f"d{i}.img" for i in range(2)]
    for image in images:
        assert cli_run("disk", "create", image, "64MiB")[0] == 0
    disks = [bootmirror.Disk.open(i, writable=True) for i in images]
    group = bootmirror.ldm.DiskGroup.create("TEST-Dg0")
    a, b = group.add_disk(disks[0]), group.add_disk(disks[1])
    group.create_volume("Volume1", "mirrored", [(a, 0, 40960), (b, 0, 40960)], drive_hint="C:")
    group.commit()
    for d in disks:
        d.close()
    code, doc = cli_json_run("ldm", "show", *images)
    assert code == 0 and doc["group"]["name"] == "TEST-Dg0"
    assert doc["group"]["volumes"][0]["type"] == "Mirror" and doc["group"]["volumes"][0]["letter"] == "C"
    code, out, _ = cli_run("disk", "verify", images[0])
    assert code == 0 and "LDM database clean" in out


@pytest.mark.qemu
def test_boot_under_qemu(lab):
    require_tool("qemu-system-x86_64")
    code, doc = cli_json_run("boot", "-m", lab, "--qemu")
    assert code == 0, doc
    assert doc["qemu_boot"]["loader_partition"]["disk"] == 0
    assert [m["tag"] for m in doc["qemu_boot"]["qemu"]["markers"]] == [bootmirror.windows_setup.LOADER_TAG]


def test_esp_diff_compares_two_disks_esps(lab, tmp_path):
    prepared = cli_run("diskpart", "-m", lab, "/s", script(tmp_path, "p.txt", bootmirror.kb814070.PREPARE_SHADOW_PARTITIONS
                                                           + "Select disk 1\nSelect partition 1\nAssign letter=S\n"
                                                           + bootmirror.kb814070.ASSIGN_PRIMARY_ESP))
    assert prepared[0] == 0
    assert cli_run("format", "-m", lab, "s:", "/fs:fat", "/q", "/y")[0] == 0
    code, doc = cli_json_run("esp", "diff", "-m", lab, "--from", "0", "--to", "1")
    assert code == cli_json.CHECK_FAILED and not doc["identical"]
    assert {d["change"] for d in doc["differences"]} == {"only-in-source"} and len(doc["differences"]) == 12  # 7 files, 5 folders
    assert cli_run("xcopy", "-m", lab, "p:\\*.*", "s:", "/s", "/h")[0] == 0
    code, out, _ = cli_run("esp", "diff", "-m", lab, "--from", "0", "--to", "1")
    assert code == 0 and out == "The ESPs of disk 0 and disk 1 hold the same files.\n"
    with bootmirror.Machine.open(lab) as machine:  # the ESPs need no letters
        machine.esp(1).remove("MSUtil/fdisk.efi")
    code, out, _ = cli_run("esp", "diff", "-m", lab, "--from", "0", "--to", "1")
    assert code == cli_json.CHECK_FAILED and out.startswith("only-in-source  MSUtil/fdisk.efi: ") and out.endswith(" bytes -> -\n")
    # esp sync puts it back; --dry-run only says what it would do.
    code, out, _ = cli_run("esp", "sync", "-m", lab, "--from", "0", "--to", "1", "--dry-run")
    assert code == 0 and out.startswith("Would change on disk 1's ESP (nothing written):\nonly-in-source  MSUtil/fdisk.efi")
    assert cli_run("esp", "diff", "-m", lab, "--from", "0", "--to", "1")[0] == cli_json.CHECK_FAILED
    code, doc = cli_json_run("esp", "sync", "-m", lab, "--from", "0", "--to", "1")
    assert code == 0 and not doc["dry_run"] and [c["path"] for c in doc["changes"]] == ["MSUtil/fdisk.efi"]
    assert cli_run("esp", "diff", "-m", lab, "--from", "0", "--to", "1")[0] == 0
    code, out, _ = cli_run("esp", "sync", "-m", lab, "--from", "0", "--to", "1")
    assert code == 0 and out == "The ESP of disk 1 already holds the same files as disk 0's.\n"
    code, doc = cli_json_run("esp", "diff", "-m", lab, "--from", "0", "--to", "2")
    assert code == 2 and doc["error"]["type"] == "UsageError"


def _folder_hashes(folder: Path) -> dict:
    """Every file of the folder as a SHA-256; a disk image's of its allocated extents and their
    bytes (the runbook's images are 10 GiB, nearly all holes)."""
    import hashlib

    def digest(path: Path) -> str:
        if path.suffix != ".img":
            return hashlib.sha256(path.read_bytes()).hexdigest()
        h = hashlib.sha256()
        with bootmirror.Disk.open(path) as disk:
            for offset, length in disk.allocated_extents():
                h.update(f"{offset}+{length}".encode())
                for at in range(offset, offset + length, 8 << 20):
                    h.update(disk.read(at, min(8 << 20, offset + length - at)))
        return h.hexdigest()

    return {p.name: digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


def test_dry_run_writes_nothing_and_lists_the_ranges_each_verb_would_write(lab, tmp_path):
    before = _folder_hashes(lab)
    prepare = script(tmp_path, "p.txt", "select disk 1\nconvert gpt\ncreate partition efi size=100\nassign letter=s\n")
    code, doc = cli_json_run("diskpart", "-m", lab, "-s", prepare, "--dry-run")
    assert code == 0 and doc["dry_run"] is True
    targets = {w["target"]: w["ranges"] for w in doc["would_write"]}
    disk1 = targets["disk 1 (disk1.img)"]
    size = 10 << 30
    # The protective MBR and the primary GPT at the start, the backup GPT at the end, whole sectors.
    assert disk1[0]["offset"] == 0 and all(r["offset"] % 512 == 0 and r["length"] % 512 == 0 for r in disk1)
    assert disk1[-1]["offset"] == size - 512 and "machine.json" in targets  # the letter S:
    code, doc = cli_json_run("bootcfg", "-m", lab, "/timeout", "10", "--dry-run")
    assert code == 0 and [w["target"].split()[0] for w in doc["would_write"]] == ["nvram"]
    code, out, _ = cli_run("bootcfg", "-m", lab, "/list", "0", "--dry-run")
    assert code == 0 and out.rstrip().endswith("--dry-run: nothing was written. It would write nothing.")
    # The disk verbs: machine.json would change; a new disk's image is neither made nor written.
    extra = tmp_path / "extra.img"
    bootmirror.Disk.create(extra, "64 MiB").close()
    for argv, targets in ((["disk", "fail", "-m", lab, "1"], ["machine.json"]),
                          (["disk", "attach", "-m", lab, extra], ["machine.json"]),
                          (["disk", "replace", "-m", lab, "1", "--size", "64MiB"], ["machine.json"]),
                          (["disk", "reactivate", "-m", lab, "1"], [])):  # disk 1 is online: nothing to do
        code, doc = cli_json_run(*argv, "--dry-run")
        assert doc["dry_run"] is True and [w["target"] for w in doc["would_write"]] == targets, (argv, doc)
    # A damaged image repaired in a dry run: the sectors of the backup table it would rewrite.
    with bootmirror.Disk.open(lab / "disk0.img") as disk:
        size = disk.size
    with open(lab / "disk0.img", "r+b") as image:
        image.seek(size - 512)
        image.write(b"\0" * 512)  # the backup header
    before = _folder_hashes(lab)
    code, doc = cli_json_run("disk", "repair", str(lab / "disk0.img"), "--dry-run")
    assert [w["target"] for w in doc["would_write"]] == [str(lab / "disk0.img")]
    assert doc["would_write"][0]["ranges"][-1] == {"offset": size - 512, "length": 512}
    assert _folder_hashes(lab) == before and sorted(p.name for p in tmp_path.iterdir()) == ["extra.img", "lab", "p.txt"]
    # Verbs that make new files make none: they say what they would write into them.
    code, doc = cli_json_run("machine", "new", tmp_path / "ghost", "--disk", "64MiB", "--nvram", "--dry-run")
    targets = [w["target"] for w in doc["would_write"]]
    assert code == 0 and targets == [f"{tmp_path / 'ghost' / n} (new)" for n in ("disk0.img", "machine.json", "nvram.fd")]
    assert [w["ranges"] for w in doc["would_write"]][0] == []  # a blank sparse disk: nothing written into it
    code, doc = cli_json_run("disk", "create", tmp_path / "ghost.img", "64MiB", "--dry-run")
    assert code == 0 and doc["would_write"] == [{"target": f"{tmp_path / 'ghost.img'} (new, 67,108,864 bytes, sparse)", "ranges": []}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extra.img", "lab", "p.txt"]


def test_resync_and_wait_dry_runs_list_the_plex_ranges_the_copies_would_write(tmp_path):
    from ldm_helpers import dynamic_boot_machine

    folder = tmp_path / "dyn"
    m = dynamic_boot_machine(folder)
    m.rebuild_speed_limit = 0  # the copy onto disk 1 holds at its start
    m.diskpart("select volume c\nadd disk=1", check=True)
    (plex,) = [p for p in m.disk(1).partitions if p.kind == "ldm_data"]
    size = m.dynamic_volume("c").device.size
    m.close()
    before = _folder_hashes(folder)
    for verb in ("resync", "wait"):
        code, doc = cli_json_run(verb, "-m", folder, "--dry-run")
        assert code == 0 and doc["would_write"] == [
            {"target": "disk 1 (mirror copy)", "ranges": [{"offset": plex.offset, "length": size}]}], doc
    assert _folder_hashes(folder) == before


def test_ldm_repair_rewrites_a_damaged_database_and_dry_run_only_says_so(tmp_path):
    from ldm_helpers import dynamic_boot_machine, layout

    folder = tmp_path / "dyn"
    m = dynamic_boot_machine(folder)
    m.close()
    with bootmirror.Disk.open(folder / "disk1.img", writable=True) as disk:
        lay = layout(disk)
        disk.write(lay.vmdb + lay.first_slot * lay.vblk_size, b"XBLK")  # a VBLK's signature
    before = _folder_hashes(folder)
    code, doc = cli_json_run("ldm", "repair", "-m", folder, "--dry-run")
    assert code == 0 and [r["disk"] for r in doc["repaired"]] == [1] and "VBLK" in " ".join(doc["repaired"][0]["reasons"])
    targets = [w["target"] for w in doc["would_write"]]
    assert "disk 1 (disk1.img)" in targets and _folder_hashes(folder) == before
    code, out, _ = cli_run("ldm", "repair", "-m", folder)
    assert code == 0 and out.startswith("Disk 1: its LDM database was rewritten from the group's:")
    assert cli_json_run("disk", "verify", "-m", folder, "1")[0] == 0
    code, out, _ = cli_run("ldm", "repair", "-m", folder)
    assert code == 0 and out.strip() == "Every disk's LDM database is clean and current: nothing to repair."

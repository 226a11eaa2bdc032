"""Writes notebooks 02 to 06 (nbformat 4.5 JSON, no outputs): python notebooks/make_notebooks.py

Each notebook is a list of ("md", text), ("code", text) and ("parameters", text) cells (a code cell
tagged "parameters", as papermill names the cell whose values a run may replace).
tests/python/test_notebooks.py executes every code cell in order, so each notebook runs headless,
in seconds, and removes its temporary folder at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The first cell of every notebook: a temporary folder, and outside tools run as a witness.
SETUP = '''\
import os, shutil, subprocess, tempfile
from pathlib import Path
import bootmirror

folder = Path(tempfile.mkdtemp(prefix='bootmirror-nb-'))

def outside(*args, quiet=False, stderr=True):
    """Run an outside tool (sgdisk, fsck.fat, mtools, ldmtool), print what it says, return the result."""
    exe = shutil.which(args[0]) or shutil.which(args[0], path='/usr/sbin:/sbin:/usr/bin')
    if exe is None:
        raise RuntimeError(f'{args[0]} is not installed (make build installs the outside tools)')
    env = dict(os.environ, MTOOLS_SKIP_CHECK='1', LC_ALL='C.UTF-8')
    r = subprocess.run([exe, *map(str, args[1:])], capture_output=True, text=True, env=env)
    if not quiet:
        print('$', *[Path(a).name if os.path.isabs(a) else a for a in map(str, args)], f'   # exit {r.returncode}')
        print((r.stdout + (r.stderr if stderr else '')).rstrip())
    return r
'''

# The first code cell of a notebook that reads the test data (README.md, "Test data"): the folder
# as a parameter.
DATA_PARAMETER = '''\
# The test data folder (README.md, "Test data"). None: the folder the tests use,
# $BOOTMIRROR_TEST_DATA or its default.
test_data = None
'''

# Those notebooks find the data as the tests do, through tests/python/conftest.py, which they find
# from the working directory (Jupyter starts in notebooks/, pytest in the repository) or from the
# package. A missing file stops the notebook at its start, with its name and the variable to set.
FIND_DATA = '''\
import sys

def repository_root():
    for base in [Path.cwd(), *Path.cwd().parents, *Path(bootmirror.__file__).resolve().parents]:
        if (base / 'notebooks').is_dir() and (base / 'pyproject.toml').is_file():
            return base
    raise RuntimeError('run this notebook from inside the bootmirror repository')

sys.path.insert(0, str(repository_root() / 'tests' / 'python'))
from conftest import RUNBOOK, WINDOWS_IMAGES, data_file
'''

CLEANUP = "shutil.rmtree(folder)\n"

NB02 = [
    ("md", """\
# GPT disks, the way diskpart makes them

Windows Server 2003 partitions a GPT disk its own way: `convert gpt` adds a Microsoft Reserved (MSR)
partition at the first usable sector, new partitions take the first free extent that holds them
(no 1 MiB alignment) and partitions are numbered in on-disk offset order. This notebook builds
such a disk from Python and through the `Machine`'s diskpart, checks and repairs the table, and
asks `sgdisk` (GPT fdisk) to confirm every step from the outside."""),
    ("code", SETUP + "from bootmirror import Disk, Machine, gpt\n"),
    ("md", """\
## From Python

A 1 GiB sparse image. `convert_gpt` writes the protective MBR, both table copies and the MSR
(32 MiB on disks under 16 GiB)."""),
    ("code", """\
disk = Disk.create(folder / 'disk.img', '1 GiB')
disk.convert_gpt()
print(gpt.style(disk), gpt.read(disk))
disk.partitions"""),
    ("md", """\
As in KB 814070, the MSR goes (deleting anything but a basic data partition needs `override`), then
the EFI system partition comes first, the MSR after it, and a primary (basic data) partition takes
the rest. The partition list shows as a table in Jupyter."""),
    ("code", """\
disk.delete_partition(1, override=True)
disk.create_partition('efi', '100 MiB')
disk.create_partition('msr', '32 MiB')
disk.create_partition('primary')          # no size: the largest free extent
disk.partitions"""),
    ("code", """\
for p in disk.partitions:
    print(f'{p.number}  {p.type_name:20} {p.name:30} offset {p.offset:>12,}  size {p.size:>13,}')"""),
    ("md", """\
## Through diskpart

A `Machine` holds disks by number and diskpart's selection. `diskpart()` takes a script and returns
the transcript, with Windows' messages and tables (sizes as diskpart rounds them, `*` on the
selected partition)."""),
    ("code", """\
m = Machine()                              # in memory; Machine.create(folder) keeps one on disk
m.attach(Disk.create(folder / 'shadow.img', '1 GiB'))
print(m.diskpart('''
list disk
select disk 0
convert gpt
list partition
select partition 1
delete partition override
create partition efi size=100
create partition msr size=32
create partition primary
list partition
'''))"""),
    ("md", """\
A command that fails answers with diskpart's message; `check=True` raises `bootmirror.UsageError`
instead, for scripts."""),
    ("code", """\
print(m.diskpart('create partition primary size=10'))
try:
    m.diskpart('create partition primary size=10', check=True)
except bootmirror.UsageError as error:
    print('UsageError:', error)"""),
    ("md", """\
## sgdisk as a witness

`sgdisk -v` checks both headers, both arrays, their CRCs and the protective MBR; `sgdisk -p` prints
the table. Both read the images we wrote. (sgdisk's caution about a partition not ending on a
2-sector boundary is Windows Server 2003's layout: no alignment, the last partition runs to the
last usable sector.)"""),
    ("code", """\
disk.flush()
outside('sgdisk', '-v', disk.path)
outside('sgdisk', '-p', disk.path);"""),
    ("md", """\
## Verify, damage, repair

A copy of the disk (only its allocated extents: a sparse copy), then the primary GPT header at LBA 1
is wiped, as a stray write would. `gpt.verify` says what is wrong without writing; the table is still
readable from the backup copy at the end of the disk."""),
    ("code", """\
damaged = Disk.create(folder / 'damaged.img', disk.size)
for offset, length in disk.allocated_extents():
    damaged.write(offset, disk.read(offset, length))
damaged.write(512, bytes(512))            # LBA 1: the primary header
damaged.flush()
health = gpt.verify(damaged)
print(health)
print('primary header valid:', health.primary.header_valid, '| backup header valid:', health.backup.header_valid)
print([p.name for p in damaged.partitions])"""),
    ("code", """\
outside('sgdisk', '-v', damaged.path);"""),
    ("md", """\
`gpt.repair` rewrites the damaged copy from the good one and says what it rewrote; afterwards the
two disks hold the same table and sgdisk finds no problem."""),
    ("code", """\
print(gpt.repair(damaged))
print(gpt.verify(damaged))
assert damaged.read(0, 34 * 512) == disk.read(0, 34 * 512)
outside('sgdisk', '-v', damaged.path);"""),
    ("code", """\
for d in (disk, damaged):
    d.close()
""" + CLEANUP),
]

NB03 = [
    ("md", """\
# FAT volumes

An EFI system partition is a FAT volume, and KB 814070 formats one (`format s: /fs:fat /q /y`) and
copies the boot files into it (`xcopy p:\\*.* s: /s /h`). `bootmirror.fat` formats FAT12/16/32 the
way Windows `format` does (Microsoft's allocation-unit tables, 2 FATs, media 0xF8) and reads and
writes files with Windows' name rules. `fsck.fat` (dosfstools) and `mdir` (mtools) check the
result from the outside."""),
    ("code", SETUP + "from bootmirror import Disk, fat\n"),
    ("md", """\
## Two partitions, two formats

A GPT disk with a 204 MiB EFI system partition (the article's size) and a 300 MiB data partition.
Each partition is a *slice* of the disk: a Disk of its own that `fat` formats and opens.
`fat.run_format` takes `format`'s switches and prints what Windows prints: FAT (FAT16 at this
size, 4 KB allocation units) gives the article's numbers."""),
    ("code", """\
disk = Disk.create(folder / 'disk.img', '1 GiB')
disk.convert_gpt()
disk.delete_partition(1, override=True)
esp_part = disk.create_partition('efi', '204 MiB')
disk.create_partition('msr', '32 MiB')
data_part = disk.create_partition('primary', '300 MiB')
esp = disk.slice(esp_part.offset, esp_part.size)
data = disk.slice(data_part.offset, data_part.size)
print(fat.run_format(esp, '/fs:fat /q /y'))"""),
    ("md", """\
From Python, `fat.format` returns the geometry it chose, and `fat.format_summary` prints it as
Windows would. FAT32 at 300 MiB has 4 KB clusters, FSInfo and a backup boot sector.
`fat.plan` gives the same geometry without writing anything."""),
    ("code", """\
result = fat.format(data, 'FAT32', label='DATA')
print(fat.format_summary(result, data.size))
g = fat.plan(data.size, fs='FAT32')
print(g.type, g.cluster_size, 'byte clusters x', g.cluster_count, '| reserved sectors:', g.reserved_sectors)"""),
    ("md", """\
## Files and long names

Paths take `/` or `\\` and ignore case, as on Windows. A name that fits 8.3 is stored 8.3 (with
case flags for `readme.txt`); a longer one gets a VFAT long name and a generated short name."""),
    ("code", """\
vol = fat.open(esp)
vol.makedirs('EFI/Microsoft/Boot')
vol.write_text('readme.txt', 'The EFI system partition\\r\\n')
vol.write_bytes(r'EFI\\Microsoft\\Boot\\bootmgfw.efi', b'MZ' + bytes(40_000))
vol.write_text('A long name.txt', 'VFAT keeps it in UTF-16 entries')
vol.write_text('Ünïcode名前.txt', 'also fine')
for e in vol.scandir(''):
    print(f'{e.name:20} {e.short_name:13} {"<DIR>" if e.is_dir else e.size:>8}')
vol"""),
    ("md", """\
`vol.open` gives a Python file object (an `io.RawIOBase`), so the standard library works on it:
`shutil.copyfileobj`, `io.BufferedReader`, seeking, appending."""),
    ("code", """\
import io
with vol.open('efi/microsoft/boot/BCD', 'wb') as f:
    shutil.copyfileobj(io.BytesIO(b'regf' + bytes(20_000)), f)
with vol.open('EFI/MICROSOFT/BOOT/bcd', 'ab') as f:
    f.write(b'-- appended')
with io.BufferedReader(vol.open('efi/microsoft/boot/bcd', 'rb')) as f:
    print(f.read(4), f.seek(-11, io.SEEK_END), f.read())"""),
    ("md", "`walk` works like `os.walk`; `stat` gives the directory entry (attributes, 8.3 name, times)."),
    ("code", """\
import time
for path, dirs, files in vol.walk():
    print(path or '\\\\', dirs, files)
st = vol.stat('EFI/Microsoft/Boot/bootmgfw.efi')
print(st.short_name, st.size, 'bytes, first cluster', st.first_cluster,
      '| modified', time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(st.modified)))
vol.set_attributes('EFI/Microsoft/Boot/BCD', fat.HIDDEN | fat.SYSTEM | fat.ARCHIVE)
print('BCD attributes: 0x%02x' % vol.stat('EFI/Microsoft/Boot/BCD').attributes)"""),
    ("md", """\
## Whole trees

`import_tree` copies a host folder into the volume, `export_tree` copies a folder of the volume
back out (never writing outside its target folder); both run in C++. With `progress=True` they draw
a `tqdm` bar of the bytes copied, as formats, mirror copies and verifies do; "Interrupt the kernel"
stops an import with the volume as it was."""),
    ("code", """\
import filecmp
host = folder / 'host'
(host / 'Tools' / 'x64').mkdir(parents=True)
for i in range(20):
    (host / 'Tools' / 'x64' / f'tool number {i}.efi').write_bytes(os.urandom(1000 + 500 * i))
(host / 'Tools' / 'README.TXT').write_text('tools for the EFI shell')
with fat.open(data) as data_vol:
    print('imported:', data_vol.import_tree(host, '', progress=True))
    print('exported:', data_vol.export_tree('Tools', folder / 'back'))
    print('free:', f'{data_vol.free_bytes:,}', 'of', f'{data_vol.total_bytes:,}', 'bytes')
cmp = filecmp.dircmp(host / 'Tools', folder / 'back')
print('differences:', cmp.diff_files, cmp.left_only, cmp.right_only)"""),
    ("md", """\
## Check, and the outside witnesses

`check()` walks the volume like `fsck.fat -n`: lost clusters, cross-links, chains that disagree with
file sizes, FAT copies that differ. Then `fsck.fat -n` and `mdir` read the partitions: fsck.fat
wants a file of its own, so the partition's allocated extents are copied into a sparse image;
mtools reads a partition in place with `image@@offset` (`-/` recursive, `-a` hidden files too)."""),
    ("code", """\
for name, v in (('ESP', vol), ('DATA', fat.open(data))):
    report = v.check()
    print(name, 'clean:', report.clean, '| files', report.files, 'folders', report.directories,
          '| clusters used', report.used_clusters, 'of', report.cluster_count)
    assert report.clean
vol.flush()
disk.flush()"""),
    ("code", """\
def partition_image(part, path):
    # A sparse image file holding one partition's bytes, for tools that take no offset.
    with Disk.create(path, part.size) as out:
        for offset, length in part.allocated_extents():
            out.write(offset, part.read(offset, length))
    return path

assert outside('fsck.fat', '-n', partition_image(esp, folder / 'esp.img')).returncode == 0
assert outside('fsck.fat', '-n', partition_image(data, folder / 'data.img')).returncode == 0"""),
    ("code", """\
outside('mdir', '-i', f'{disk.path}@@{esp_part.offset}', '-/', '-a', '::/');"""),
    ("md", """\
## NTFS: Windows' own volume

Windows lives on NTFS. bootmirror makes an NTFS volume with the tool Linux trusts for it (Debian's
mkntfs, run as a program on a temporary file copied into the volume), fills it as Windows setup
does (wimlib-imagex applies a WIM of a folder), and reads it with its own reader: names matched
without regard to case as Windows matches them, files read through their runs. ntfsfix, from the
same package as mkntfs, accepts what was made."""),
    ("code", """\
from bootmirror import ntfs, windows_setup
c = Disk.create(folder / 'c.img', '256 MiB')
print(ntfs.format_summary(ntfs.format(c, label='PRIMARY'), c.size))
tree = folder / 'windows-tree'
windows_setup.write_windows_tree(tree)
ntfs.install_tree(c, tree)
v = ntfs.open(c)
print(v, v.listdir('windows/SYSTEM32'))
assert v.label == 'PRIMARY' and v.read_bytes(r'\\WINDOWS\\system32\\ntoskrnl.exe') == (tree / 'WINDOWS/system32/ntoskrnl.exe').read_bytes()
print(v.export_tree('WINDOWS', folder / 'exported'))
c.flush()
assert outside('ntfsfix', '-n', c.path).returncode == 0"""),
    ("code", """\
c.close()
disk.close()
""" + CLEANUP),
]

NB04 = [
    ("md", """\
# Dynamic disks (LDM)

A Windows dynamic disk carries the Logical Disk Manager database of its whole disk group: every
disk, volume, plex (a copy of a volume's data) and partition (an extent of a disk). `bootmirror.ldm`
reads and writes it. First, real disks made by Windows Server 2003 R2 (the test data of the libldm
project, in `data/ldm-windows` of the test data folder, the parameter below), read by bootmirror and
by Linux's `ldmtool` side by side; then dynamic disks of our own, with a mirrored volume, read back
by `ldmtool`."""),
    ("parameters", DATA_PARAMETER),
    ("code", SETUP + FIND_DATA + """\
import json, tarfile
from bootmirror import Disk, ldm

windows_images = data_file(WINDOWS_IMAGES, test_data)
"""),
    ("md", """\
## A real Windows Server 2003 R2 disk group

Ten 50 MiB MBR dynamic disks (partition type 0x42, the database in the last MiB), unpacked into the
temporary folder. A group's volumes span its disks, so all ten are read together."""),
    ("code", """\
with tarfile.open(windows_images) as tar:
    tar.extractall(folder / 'windows', members=[m for m in tar.getmembers() if m.name.startswith('ldm-2003r2-')])
images = sorted((folder / 'windows').glob('ldm-2003r2-*.img'))
group = ldm.read_group([Disk.open(p) for p in images])
group"""),
    ("code", """\
print(f'{"disk":7} {"image":26} {"scheme":6} {"data start":>10} {"data size":>10} {"database at":>11}')
for d in group.disks:
    print(f'{d.name:7} {Path(d.disk.path).name:26} {d.scheme:6} {d.data_start:>10} {d.data_size:>10} {d.config_start:>11}')"""),
    ("md", """\
Each volume has one plex, except the mirror (two); a plex lists its partitions. Sizes are in
sectors, as the database keeps them. `fs` reads the boot sector where one plex holds the volume."""),
    ("code", """\
for v in group.volumes:
    print(f'{v.name:8} {v.drive_hint or "":3} {v.type:8} {v.size:>7} sectors  {v.status:8} {v.fs}')
    for plex in v.plexes:
        parts = ', '.join(f'{p.name} (start {p.start}, {p.size} sectors)' for p in plex.partitions)
        chunk = f' stripe {plex.chunk_size} sectors' if plex.chunk_size else ''
        print(f'    plex {plex.name}: {parts}{chunk}')"""),
    ("md", """\
## ldmtool reads the same

`ldmtool scan` finds the disk group, `show diskgroup` / `show volume` / `show partition` describe
it as JSON. (ldmtool warns on stderr that an image file has no sector size; the notebook hides that.)"""),
    ("code", """\
def ldmtool(*args, paths=images):
    devices = [a for p in paths for a in ('-d', p)]
    return json.loads(outside('ldmtool', *devices, *args, quiet=True).stdout)

outside('ldmtool', 'scan', *images, stderr=False)
dg = ldmtool('show', 'diskgroup', group.guid)
assert dg['name'] == group.name and dg['disks'] == [d.name for d in group.disks]
assert dg['volumes'] == [v.name for v in group.volumes]"""),
    ("code", """\
mirror = group.volume('Volume3')
shown = ldmtool('show', 'volume', group.guid, mirror.name)
print(json.dumps(shown, indent=1))
assert (shown['guid'], shown['size'], shown['hint']) == (mirror.guid, mirror.size, mirror.drive_hint)
for p in mirror.partitions:
    print(ldmtool('show', 'partition', group.guid, p.name), '<->', (p.name, p.start, p.size, p.disk.name))"""),
    ("md", """\
## Dynamic disks of our own

`DiskGroup.create` starts a group (Windows names it `<computer>-Dg0`), `add_disk` is diskpart's
`convert dynamic`, `create_volume` lays out a volume over (disk, start sector, sectors) extents, and
`commit` writes the database to every disk, crash-safely (old or new, never a mixture)."""),
    ("code", """\
own = [Disk.create(folder / f'dyn{i}.img', '64 MiB') for i in range(2)]
mine = ldm.DiskGroup.create('NOTEBOOK-Dg0')
a, b = mine.add_disk(own[0]), mine.add_disk(own[1])
mirrored = mine.create_volume('Volume1', 'mirrored', [(a, 0, 40960), (b, 0, 40960)], drive_hint='M:')
simple = mine.create_volume('Volume2', 'simple', [(b, 40960, 20480)], drive_hint='N:')
mine.commit()
print(mirrored, mirrored.plexes)
print(simple)
print('free on', a.name, a.free_extents(), '|', b.name, b.free_extents())"""),
    ("code", """\
paths = [d.path for d in own]
outside('ldmtool', 'scan', *paths, stderr=False)
print(json.dumps(ldmtool('show', 'diskgroup', mine.guid, paths=paths), indent=1))
print(json.dumps(ldmtool('show', 'volume', mine.guid, 'Volume1', paths=paths), indent=1))"""),
    ("md", """\
## A disk goes missing

With only the first disk, the group is still readable (each disk holds the whole database): the
second disk is *missing* (diskpart's `M0`), the mirror has lost a plex (`Failed Rd`) and the simple
volume on the missing disk has no copy left (`Failed`). ldmtool agrees that Disk2 is not present."""),
    ("code", """\
alone = ldm.read_group([Disk.open(paths[0])])
print([(d.name, d.present) for d in alone.disks])
print([(v.name, v.status) for v in alone.volumes])
print(ldmtool('show', 'disk', alone.guid, 'Disk2', paths=paths[:1]))"""),
    ("code", """\
for d in own:
    d.close()
""" + CLEANUP),
]

NB05 = [
    ("md", """\
# Rehearsing KB 814070: mirroring a GPT boot volume, end to end

Microsoft KB 814070 (in `seed/` of the test data folder, the parameter below) mirrors the boot
volume of a Windows Server 2003 GPT system onto a shadow disk: partition the shadow like the system
disk, format its EFI system partition and copy the boot files, convert both disks to dynamic,
restart, add the mirror, then clone the boot entries onto the shadow's ESP with bootcfg and
test-boot the shadow. This notebook replays all of it on two sparse 10 GiB images, with the
article's commands, checks each answer against the article, and boots the shadow for real under
QEMU with OVMF. The failure-and-recovery drill is notebook 06."""),
    ("parameters", DATA_PARAMETER),
    ("code", SETUP + FIND_DATA + """\
import re
from bootmirror import kb814070, scenarios
from runbook import GUID, ours, seed_block
"""),
    ("md", """\
## The article's machine

Disk 0 as the article finds it: partitioned at the byte offsets of its `bootcfg /list 0`, a FAT EFI
system partition holding the seven files its xcopy lists (Windows' loader a real EFI program that
says which ESP it was loaded from), C: an NTFS volume labelled PRIMARY holding Windows, the MSR;
disk 1 raw; a CD-ROM drive D:; and the firmware's NVRAM, a real OVMF variable store, with Windows'
entry, from which Windows was started."""),
    ("code", """\
m = scenarios.kb814070(folder / 'lab')
print(m.diskpart('list disk\\nlist volume'))
print(m.bootcfg())
assert 'C   PRIMARY      NTFS   Partition   4996 MB  Healthy    Boot' in m.diskpart('list volume')
m"""),
    ("md", """\
## Every step, as the article types it

`scenarios.kb814070_steps` runs the article's steps one at a time: the shadow's partitions, its
FAT and the copy of the boot files, the conversion to dynamic (with the restart disk 0 needs),
`add disk=1` and the wait for the copy, bootcfg, `/list`, `/clone`, and the test boot of the
cloned entry. The article's own transcripts are compared as they come (GUIDs masked)."""),
    ("code", """\
steps = {}
for step in scenarios.kb814070_steps(m):
    steps[step.title] = step
    print(f'-- [{step.section}] {step.title}')
    print(step.transcript.rstrip()[-1200:])
    print()"""),
    ("code", """\
first = seed_block('C:> bootcfg')
first[3] += 'WS'   # the article cuts this line short in its first bootcfg only
assert ours(steps['step 1: the boot entries'].transcript) == first
assert ours(steps['step 4: clone the entries onto the shadow\\'s ESP'].transcript) == seed_block('/d+ Cloned_Entry')
assert ours(steps['step 5: the cloned entries'].transcript) == seed_block('C:\\\\>bootcfg')
print('bootcfg before and after the clone: as the article prints it')"""),
    ("md", """\
## The test boot, for real

The cloned entry loads Windows' loader from the shadow's ESP. Under QEMU with OVMF (Debian's
packages, software emulation, about 5 s), on the machine's own images and NVRAM file, firmware
starts that entry and the loader prints which ESP it came from: disk 1's. The engine's own boot
(`m.boot`) follows the same rules and agrees."""),
    ("code", """\
chosen = 'Boot Mirror C: - secondary plex Cloned_Entry'
real = m.boot_qemu(chosen)
for attempt in real.qemu.attempts:
    print(attempt)
print(real.qemu.markers)
emulated = m.boot(chosen)
print(emulated.steps)
assert real.loader_partition.disk == 1 and emulated.loader_partition.disk == 1 and emulated.ok"""),
    ("md", """\
## Does each disk boot on its own?

The article's test boot chooses the cloned entry by hand. `check_redundancy` asks what the
firmware does when nobody is there to choose: for each disk, it pulls every other disk on a
scratch copy of the machine (nothing is written) and boots as the firmware would, then says what
stops a disk and what to do. Here it finds that with disk 0 gone the firmware starts its own
shell, which comes before the cloned entries in BootOrder; its advice, applied, fixes that."""),
    ("code", """\
report = m.check_redundancy()
assert not report.survives_loss_of_any_disk
report   # the table, then each problem with what to do"""),
    ("code", """\
advice = report.disks[1].advice[0]
print(advice)
m.nvram.boot_order = [int(n, 16) for n in advice.split('--bootorder ')[1].rstrip(')').split(',')]
report = m.check_redundancy()
print(report)
assert report.survives_loss_of_any_disk"""),
    ("md", """\
## What the outside tools say

sgdisk reads both tables, ldmtool the disk group, fsck.fat each ESP and ntfsfix each plex of C:
on its own."""),
    ("code", """\
from bootmirror import outside_checks
checks = outside_checks.run_checks(m)
for check in checks:
    print(check)
assert all(c.ok for c in checks)
m.close()"""),
    ("code", CLEANUP),
]

NB06 = [
    ("md", """\
# Drill: disk 0 dies, and the mirror is rebuilt

KB 814070's recovery section, replayed on the machine it describes: C: (2996 MB) was mirrored
onto a 4149 MB shadow disk that has no EFI system partition, then disk 0 died. The shadow's boot
entry cannot load (its loader was on disk 0's ESP); a new disk 0 gets Windows from setup; bootcfg
adds an entry for the shadow's boot partition; the original Windows starts from the shadow; the
broken mirror and the missing disk go, and the mirror is rebuilt onto the new disk 0. The
article's transcripts are compared at each step."""),
    ("parameters", DATA_PARAMETER),
    ("code", SETUP + FIND_DATA + """\
from bootmirror import scenarios
from runbook import ours, seed_block
"""),
    ("code", """\
m = scenarios.kb814070_without_shadow_esp(folder / 'lab', bootable=False)
print(m.diskpart('list volume'))
print(m.bootcfg())"""),
    ("code", """\
steps = {}
for step in scenarios.kb814070_recovery_steps(m, folder / 'lab' / 'disk0-new.img', bootable=False):
    steps[step.title] = step
    print(f'-- [{step.section}] {step.title}')
    print(step.transcript.rstrip()[-1500:])
    print()"""),
    ("code", """\
failed = steps['disk 0 dies; the shadow\\'s entry does not load'].transcript
assert 'Load of Boot Mirror C: - secondary plex failed:  Not Found' in failed
assert ours(steps['step 8: the boot entries'].transcript) == seed_block('C:\\\\>bootcfg', 1)
assert ours(steps['step 11: the new entry'].transcript) == seed_block('C:\\\\>bootcfg', 2)
assert 'The service did not update the bootfile.' in steps['step 2: break it from the missing disk'].transcript
assert 'Mirror      2996 MB  Healthy    Boot' in steps['step 6: the mirror is healthy'].transcript
print('the recovery went as the article shows it')"""),
    ("md", """\
Firmware never prunes boot entries: `m.nvram.stale()` names the ones whose ESP, loader or Windows
is gone (here, setup's entry: its Windows partition was deleted to make room for the mirror)."""),
    ("code", """\
for entry in m.nvram.entries():
    print(entry.id, entry.description, '|', entry.boot_file_path, '|', entry.os_file_path)
print(m.nvram.stale())
assert [s.description for s in m.nvram.stale()] == ['Microsoft Windows Server 2003, Enterprise Edition']
assert m.boot('Boot Mirror C: - secondary plex').ok   # the new disk 0's plex starts Windows
m.close()"""),
    ("code", CLEANUP),
]


def cell(kind: str, text: str, index: int) -> dict:
    lines = text.splitlines(keepends=True)
    if kind == "md":
        return {"cell_type": "markdown", "id": f"c{index}", "metadata": {}, "source": lines}
    metadata = {"tags": ["parameters"]} if kind == "parameters" else {}
    return {"cell_type": "code", "id": f"c{index}", "metadata": metadata, "source": lines,
            "execution_count": None, "outputs": []}


def notebook(cells) -> dict:
    return {
        "cells": [cell(kind, text, i) for i, (kind, text) in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


NOTEBOOKS = {
    "02-gpt-and-diskpart.ipynb": NB02,
    "03-fat-volumes.ipynb": NB03,
    "04-ldm-dynamic-disks.ipynb": NB04,
    "05-kb814070-rehearsal.ipynb": NB05,
    "06-kb814070-recovery-drill.ipynb": NB06,
}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        (HERE / name).write_text(json.dumps(notebook(cells), indent=1, ensure_ascii=False) + "\n")
        print("wrote", name)

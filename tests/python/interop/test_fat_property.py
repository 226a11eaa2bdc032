"""Random file operations against a host-folder model (hypothesis), then fsck.fat -n and mtools
agree with the model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bootmirror
from bootmirror import fat
from fat_helpers import assert_fsck_clean, volume_tree

NAMES = ["a", "B", "readme.txt", "Long File Name.text", "ünï", "x" * 40, "DATA.BIN"]
DIRS = ["", "d1", "d1/Sub Folder", "d2"]

op = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(DIRS), st.sampled_from(NAMES), st.integers(0, 9000), st.integers(0, 255)),
    st.tuples(st.just("append"), st.sampled_from(DIRS), st.sampled_from(NAMES), st.integers(1, 5000), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.sampled_from(DIRS), st.sampled_from(NAMES), st.integers(0, 12000), st.just(0)),
    st.tuples(st.just("remove"), st.sampled_from(DIRS), st.sampled_from(NAMES), st.just(0), st.just(0)),
    st.tuples(st.just("rename"), st.sampled_from(DIRS), st.sampled_from(NAMES), st.integers(0, len(NAMES) - 1),
              st.integers(0, len(DIRS) - 1)),
    st.tuples(st.just("rmdir"), st.sampled_from(DIRS[1:]), st.just(""), st.just(0), st.just(0)),
)


def _key(path: str) -> str:
    return path.upper()


def _join(d: str, n: str) -> str:
    return f"{d}/{n}" if d else n


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fs=st.sampled_from(["FAT12", "FAT16", "FAT32"]), sector=st.sampled_from([512, 4096]),
       ops=st.lists(op, max_size=40))
def test_random_operations_match_a_model(fs, sector, ops):
    size = {"FAT12": 3 << 20, "FAT16": 20 << 20, "FAT32": (40 if sector == 512 else 300) << 20}[fs]
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "vol.img"
        model: dict = {}  # upper-cased path -> (spelling, bytes or None for folders)
        with bootmirror.Disk.create(image, size, sector_size=sector) as disk:
            fat.format(disk, fs)
            v = fat.open(disk)
            for d in DIRS[1:]:
                v.makedirs(d)
                model[_key(d)] = (d, None)
            for kind, d, name, a, b in ops:
                if d and _key(d) not in model:
                    continue
                path = _join(d, name)
                k = _key(path)
                existing = model.get(k)
                if kind == "write":
                    if existing and existing[1] is None:
                        continue
                    data = bytes([b]) * a
                    v.write_bytes(path, data)
                    model[k] = (existing[0] if existing else path, data)
                elif kind == "append" and existing and existing[1] is not None:
                    with v.open(path, "ab") as f:
                        f.write(bytes([b]) * a)
                    model[k] = (existing[0], existing[1] + bytes([b]) * a)
                elif kind == "truncate" and existing and existing[1] is not None:
                    with v.open(path, "r+b") as f:
                        f.truncate(a)
                    model[k] = (existing[0], existing[1][:a] + bytes(max(0, a - len(existing[1]))))
                elif kind == "remove" and existing and existing[1] is not None:
                    v.remove(path)
                    del model[k]
                elif kind == "rename" and existing and existing[1] is not None:
                    target_dir = DIRS[b]
                    if target_dir and _key(target_dir) not in model:
                        continue
                    target = _join(target_dir, NAMES[a])
                    if _key(target) in model and _key(target) != k:
                        continue
                    v.rename(path, target)
                    del model[k]
                    model[_key(target)] = (target, existing[1])
                elif kind == "rmdir" and _key(d) in model:
                    if any(p.startswith(_key(d) + "/") for p in model):
                        continue
                    v.rmdir(d)
                    del model[_key(d)]
            assert v.check().clean
            seen = {_key(p): data for p, data in volume_tree(v).items()}
            assert seen == {k: data for k, (spelling, data) in model.items()}
        assert_fsck_clean(image)

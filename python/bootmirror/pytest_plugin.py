"""pytest fixtures for scenario suites that use bootmirror (registered as a pytest11 plugin)."""

from __future__ import annotations

from typing import Callable

import pytest

from . import Disk


@pytest.fixture
def make_disk(tmp_path) -> Callable[..., Disk]:
    """Create sparse image files in the test's temporary folder: ``make_disk("10 GiB")``."""
    opened = []

    def factory(size="64 MiB", name=None, sector_size=512) -> Disk:
        disk = Disk.create(tmp_path / (name or f"disk{len(opened)}.img"), size, sector_size=sector_size)
        opened.append(disk)
        return disk

    yield factory
    for disk in opened:
        disk.close()

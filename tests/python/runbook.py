"""The runbook's transcripts as the scenario tests compare them: a command's block of output as
the article prints it, dedented, with GUIDs masked (they are the article's machine's)."""

from __future__ import annotations

import re
from typing import List

from conftest import runbook_text

GUID = re.compile(r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}")


def seed_block(command: str, occurrence: int = 0) -> List[str]:
    """The lines the article prints after the `occurrence`-th bullet line ending in `command`:
    dedented to their first line, trailing blanks removed, GUIDs masked."""
    lines = runbook_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(command) and "\u2022" in line]
    i = starts[occurrence] + 1
    while not lines[i].strip():
        i += 1
    indent = len(lines[i]) - len(lines[i].lstrip())
    block = []
    while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) >= indent):
        block.append(lines[i][indent:].rstrip())
        i += 1
    while block and not block[-1]:
        block.pop()
    return [GUID.sub("{GUID}", line) for line in block]


def ours(text: str) -> List[str]:
    """Our output the same way: trailing blanks removed, GUIDs masked."""
    return [GUID.sub("{GUID}", line.rstrip()) for line in text.strip("\n").splitlines()]


def answer(transcript: str) -> List[str]:
    """The answer of a one-command diskpart transcript ("DISKPART> cmd" and a blank line dropped),
    dedented to its first line as seed_block dedents the article's."""
    lines = ours(transcript.split("\n", 2)[2])
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    return [line[indent:] if line[:indent].isspace() else line.lstrip() for line in lines]

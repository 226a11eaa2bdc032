"""The runbook's transcripts as the scenario tests compare them: a command's block of output as
the article prints it, dedented, masked as the pytest plugin's assert_transcript masks (GUIDs,
serial numbers, dates and times: they are the article's machine's)."""

from __future__ import annotations

import re
from typing import List

from bootmirror.pytest_plugin import mask_transcript
from conftest import runbook_text

GUID = re.compile(r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}")


def seed_text(command: str, occurrence: int = 0) -> str:
    """The text the article prints after the `occurrence`-th bullet line ending in `command`,
    dedented to its first line (for assert_transcript)."""
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
    return "\n".join(block)


def seed_block(command: str, occurrence: int = 0) -> List[str]:
    """:func:`seed_text`'s lines, masked, trailing blanks removed."""
    return mask_transcript(seed_text(command, occurrence))


def ours(text: str) -> List[str]:
    """Our output the same way."""
    return mask_transcript(text)


def answer(transcript: str) -> List[str]:
    """The answer of a one-command diskpart transcript ("DISKPART> cmd" and a blank line dropped),
    dedented to its first line as seed_block dedents the article's."""
    lines = ours(transcript.split("\n", 2)[2])
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    return [line[indent:] if line[:indent].isspace() else line.lstrip() for line in lines]

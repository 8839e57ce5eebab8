"""`file:line` references in the project's Markdown, and the check that each still holds.

A reference is written ``[path:line](link) `fragment` `` (a line break may come between the
link and the fragment): the fragment is text that must be on that line. ``monolithos/LEGACY.md``
points into today's code, ``docs/assessment.md`` into the first commit's; each test reads the
files from where its document points.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

REFERENCE = re.compile(r"\[([\w./-]+):(\d+)\]\([^)]*\)\s+`([^`]+)`")


@dataclass(frozen=True)
class Reference:
    path: str
    line: int
    fragment: str


def references(text: str) -> list[Reference]:
    return [
        Reference(path, int(line), fragment) for path, line, fragment in REFERENCE.findall(text)
    ]


def stale(found: Iterable[Reference], read: Callable[[str], str | None]) -> list[str]:
    """Each reference whose line is missing or does not show its fragment; ``read`` gives a file
    by its path (None when there is no such file)."""
    problems = []
    for reference in found:
        text = read(reference.path)
        if text is None:
            problems.append(f"{reference.path} does not exist")
            continue
        lines = text.splitlines()
        if reference.line > len(lines) or reference.fragment not in lines[reference.line - 1]:
            problems.append(
                f"{reference.path}:{reference.line} does not contain {reference.fragment!r}"
            )
    return problems

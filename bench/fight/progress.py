"""A round's progress bar: redrawn in place on a terminal, one line per step in a CI log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class Progress:
    def __init__(self, name: str, steps: int, stream: TextIO | None = None) -> None:
        self.name = name
        self.steps = steps
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.in_place = self.stream.isatty()
        self.started = time.monotonic()

    def _line(self, label: str) -> str:
        filled = WIDTH * self.done // max(self.steps, 1)
        bar = "#" * filled + "." * (WIDTH - filled)
        elapsed = time.monotonic() - self.started
        return f"{self.name:<8} [{bar}] {self.done}/{self.steps} {elapsed:5.1f} s  {label}"

    def step(self, label: str) -> None:
        """Say what runs now; the bar counts the steps already finished."""
        line = self._line(label)
        if self.in_place:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.done = min(self.done + 1, self.steps)

    def finish(self) -> None:
        self.done = self.steps
        line = self._line("done")
        self.stream.write(("\r\033[K" + line if self.in_place else line) + "\n")
        self.stream.flush()

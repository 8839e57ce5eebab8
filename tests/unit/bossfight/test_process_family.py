"""The benchmarks count a process's CPU with its whole family, pool processes included."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.harness.processes import family, group_members, kill_group

# A parent whose child leaves the process group, as a Celery worker's pool processes do
# (config.celery); the child lives until the parent is gone (its stdin closes).
PARENT = """
import subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import os, sys; os.setpgid(0, 0); sys.stdin.read()"],
    stdin=subprocess.PIPE,
)
print(child.pid, flush=True)
sys.stdin.read()
"""


def process_group(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


def test_a_child_that_left_the_group_is_still_family() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        while process_group(child) != child:  # until the child's setpgid ran
            assert time.monotonic() < deadline, "the child never left its parent's group"
            time.sleep(0.01)

        assert child not in group_members(parent.pid)
        assert family(parent.pid) == sorted([parent.pid, child])
    finally:
        kill_group(parent)

"""Processes: each in its own session, so that it and its children stop together.

Also what is read of them on Linux (the members of a process group, CPU seconds), free ports,
and waiting: for a URL to answer, for a condition to hold.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

ROOT = Path(__file__).resolve().parents[2]


class RunFailed(Exception):
    """The run itself could not be made (exit status 2)."""


class TimedOut(RunFailed):
    """What was waited for did not come in time."""


def start_in_session(
    argv: Sequence[str], env: dict[str, str], output: IO[bytes] | IO[str] | int
) -> subprocess.Popen[bytes]:
    """``argv`` from the project's root in a session of its own, its output to ``output``."""
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to whatever is left of ``process``'s group, then reap it.

    A stuck process, a worker's pool children: while a member lives, the kernel hands the
    group's id to no other process.
    """
    if process.poll() is None or group_members(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def stop_group(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """Stop a process started in its own session, and its children: SIGTERM, then SIGKILL.

    A Celery worker's warm shutdown can hang when its pool children got the SIGTERM too; what a
    test checks is done by then, so the group is killed instead of failing the test on it. A
    process that already ended (and its group with it) is left alone.
    """
    if process.poll() is None or group_members(process.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    kill_group(process)


@dataclass
class Processes:
    log_dir: Path
    running: list[tuple[str, subprocess.Popen[bytes], TextIO]] = field(default_factory=list)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self, name: str, argv: list[str], env: dict[str, str], *, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """``argv`` as ``name``, logging to ``log`` (by default ``<log_dir>/<name>.log``)."""
        output = (log or self.log_path(name)).open("w")
        process = start_in_session(argv, env, output)
        self.running.append((name, process, output))
        return process

    def check(self) -> None:
        for name, process, output in self.running:
            if process.poll() is not None:
                raise RunFailed(
                    f"{name} exited with status {process.returncode}; see {output.name}"
                )

    def stop(self, names: Sequence[str] | None = None) -> None:
        """SIGTERM to each main process, a grace period, then SIGKILL to its process group."""
        chosen = [entry for entry in self.running if names is None or entry[0] in names]
        for _, process, _ in chosen:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, process, log in chosen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            kill_group(process)
            log.close()
        self.running = [entry for entry in self.running if entry not in chosen]


def group_members(pgid: int) -> list[int]:
    """Processes still in the process group ``pgid`` (Linux /proc; empty elsewhere)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the command name, which may hold spaces: state, ppid, pgrp, ...
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def family(pid: int) -> list[int]:
    """``pid``, its descendants and the rest of its process group (Linux /proc).

    A Celery worker's pool processes leave its group (config.celery), so the group alone
    misses them while they live; the parent links find them.
    """
    parents: dict[int, tuple[int, int]] = {}  # pid: (ppid, pgrp)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
    members = {pid} | {member for member, (_, pgrp) in parents.items() if pgrp == pid}
    while True:
        children = {child for child, (ppid, _) in parents.items() if ppid in members}
        if children <= members:
            return sorted(members)
        members |= children


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time of ``pids`` and of their children they reaped (Linux /proc; 0 elsewhere)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def named(command: str) -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == command:
                pids.append(int(comm.parent.name))
    return pids


def cpu_snapshot(processes: Processes) -> dict[str, float]:
    """CPU seconds so far of each process this run started (with its family) and of the servers.

    A PostgreSQL backend's time survives its exit in the postmaster's reaped-children fields,
    as a Celery pool process's does in its parent's.
    """
    snapshot = {name: cpu_seconds(family(process.pid)) for name, process, _ in processes.running}
    snapshot["bench client"] = cpu_seconds([os.getpid()])
    snapshot["PostgreSQL"] = cpu_seconds(named("postgres"))
    snapshot["Redis"] = cpu_seconds(named("redis-server"))
    return snapshot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.5,
    check: Callable[[], None] | None = None,
) -> None:
    """Poll ``condition`` every ``interval`` s; ``check`` (which may raise) before each look at
    the clock. Raises ``TimedOut(message)`` (``message()`` when callable) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimedOut(message() if callable(message) else message)
        time.sleep(interval)


def wait_for(what: str, probe: Callable[[], bool], processes: Processes, seconds: float) -> None:
    """``probe`` holds, while every process of the run still runs, within ``seconds``."""
    wait_until(
        probe,
        timeout=seconds,
        message=f"{what} not ready within {seconds:.0f} s",
        interval=0.1,
        check=processes.check,
    )


def answers(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (our own http URL)
            return int(response.status) < 500
    except urllib.error.HTTPError as error:
        error.close()
        return error.code < 500
    except OSError:
        return False


def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

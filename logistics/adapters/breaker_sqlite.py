"""The breaker's state in a SQLite file: shared by every process of one host, with no server.

The embedded defaults have no Redis. In process memory each process had its own breaker, so an
operator's ``force_open`` reached only the process that ran it, and each web and worker process
had to see its own twelve failures before it stopped calling a supplier that was down. Here the
state is one row of a table in a file (``BREAKER_STATE_FILE``, ``var/breaker.sqlite3``) that
every process of the host opens: pybreaker's reads are one ``SELECT``, its counters one
``UPDATE`` (an increment, or a reset only when there is something to reset), and each transition
runs ``StoredState``'s rule (the memory storage's very code) on the row: on the row as read when
it changes nothing (a refusal), else in one ``BEGIN IMMEDIATE`` transaction that reads the row,
applies the rule and writes it back: atomic across processes, which SQLite's write lock
serializes. WAL mode, so that readers never wait on a writer; ``synchronous=NORMAL``, so
that a commit waits on no disk flush (a breaker state lost with the machine is a closed
breaker, which is where a restarted system starts anyway). The clock is the host's, which
every process reading the file shares. docs/adr/0024 has its cost per guarded call.

It fails open as the Redis storage does: a file that cannot be opened, or a lock not taken
within ``timeout`` (``database is locked``), is logged and counted, the breaker acts closed,
and the file is tried again once a second (``Unreachable``). An operator's ``hold`` and
``reset`` raise instead, so that a command never silently does nothing. Imports no Django.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pybreaker

from logistics.adapters.breaker_storage import (
    BreakerSnapshot,
    BreakerStorage,
    FailOpen,
    Lease,
    StoredState,
)

T = TypeVar("T")

# The columns after ``name`` are StoredState's fields, in its order.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS breaker (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    failures INTEGER NOT NULL DEFAULT 0,
    successes INTEGER NOT NULL DEFAULT 0,
    opened_at REAL,
    held INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    probe_token TEXT,
    probe_expires REAL NOT NULL DEFAULT 0
)
"""
_COLUMNS = "state, failures, successes, opened_at, held, note, probe_token, probe_expires"
_ASSIGNMENTS = ", ".join(f"{column} = ?" for column in _COLUMNS.split(", "))


class SqliteBreakerStorage(BreakerStorage):
    def __init__(
        self,
        path: Path,
        name: str = "supplier",
        *,
        timeout: float = 0.25,
        clock: Callable[[], float] = time.time,
        retry_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("sqlite")
        self.breaker_name = name
        self.path = path
        self._timeout = timeout
        self._clock = clock
        self._local = threading.local()
        # This process's writers queue here, on a mutex that wakes the next one at once; on the
        # file's lock they would wait in SQLite's busy handler, which sleeps 1 ms, then 2, 5...
        self._writing = threading.RLock()
        # OSError: the file's folder cannot be made
        self._fail_open = FailOpen(name, (sqlite3.Error, OSError), clock=retry_clock)

    @property
    def where(self) -> str:
        return f"SQLite file {self.path}: every process of this host"

    # ---------------------------------------------------------------- the file

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork), the table and the row made sure."""
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit (isolation_level None): each statement is its own transaction, and the
        # transitions open theirs explicitly.
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            connection.execute(
                "INSERT OR IGNORE INTO breaker (name) VALUES (?)", (self.breaker_name,)
            )
        except sqlite3.Error:
            connection.close()
            raise
        self._local.held = (os.getpid(), connection)
        return connection

    def _drop_connection(self) -> None:
        held: tuple[int, sqlite3.Connection] | None = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held[0] == os.getpid():
            held[1].close()

    def _failing_open(self, fallback: T, operation: Callable[[sqlite3.Connection], T]) -> T:
        return self._fail_open(
            fallback, lambda: operation(self._connection()), on_error=self._drop_connection
        )

    def _row(self, connection: sqlite3.Connection) -> StoredState:
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM breaker WHERE name = ?",  # noqa: S608  (ours)
            (self.breaker_name,),
        ).fetchone()
        if row is None:
            return StoredState()
        stored = StoredState(*row)
        stored.held = bool(stored.held)
        return stored

    def _value(self, column: str) -> Callable[[sqlite3.Connection], Any]:
        def read(connection: sqlite3.Connection) -> Any:
            row = connection.execute(
                f"SELECT {column} FROM breaker WHERE name = ?",  # noqa: S608  (a column name)
                (self.breaker_name,),
            ).fetchone()
            return None if row is None else row[0]

        return read

    def _update(self, assignment: str, *values: object) -> Callable[[sqlite3.Connection], None]:
        def write(connection: sqlite3.Connection) -> None:
            with self._writing:
                connection.execute(
                    f"UPDATE breaker SET {assignment} WHERE name = ?",  # noqa: S608  (ours)
                    (*values, self.breaker_name),
                )

        return write

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection) -> Iterator[StoredState]:
        """The row, locked for writing until it is written back (or nothing, on an error)."""
        with self._writing:
            connection.execute("BEGIN IMMEDIATE")
            try:
                stored = self._row(connection)
                yield stored
                self._update(
                    _ASSIGNMENTS,
                    stored.state, stored.failures, stored.successes, stored.opened_at,
                    int(stored.held), stored.note, stored.probe_token, stored.probe_expires,
                )(connection)  # fmt: skip
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def _transition(self, fallback: T, change: Callable[[StoredState, float], T]) -> T:
        """``change`` applied atomically; decided on a plain read when it would change nothing.

        Most decisions change nothing (a refusal while open, a late failure of an open
        breaker): they are answered from the row as read, without the write lock, as if the
        call had come a moment earlier. One that changes the row is made again on the row
        read under the lock, and written.
        """

        def run(connection: sqlite3.Connection) -> T:
            seen = self._row(connection)
            tried = replace(seen)
            answer = change(tried, self._clock())
            if tried == seen:
                return answer
            with self._transaction(connection) as stored:
                return change(stored, self._clock())

        return self._failing_open(fallback, run)

    # ---------------------------------------------------------------- pybreaker's interface

    @property
    def state(self) -> str:
        state = self._failing_open(None, self._value("state"))
        return pybreaker.STATE_CLOSED if state is None else str(state)

    @state.setter
    def state(self, state: str) -> None:
        self._failing_open(None, self._update("state = ?", state))

    def increment_counter(self) -> None:
        self._failing_open(None, self._update("failures = failures + 1"))

    def reset_counter(self) -> None:
        # Every success resets the count: a write only when there is something to reset, so a
        # healthy supplier's calls take no write lock.
        self._failing_open(None, self._reset_if_counted("failures"))

    def increment_success_counter(self) -> None:
        self._failing_open(None, self._update("successes = successes + 1"))

    def reset_success_counter(self) -> None:
        self._failing_open(None, self._reset_if_counted("successes"))

    def _reset_if_counted(self, column: str) -> Callable[[sqlite3.Connection], None]:
        read, write = self._value(column), self._update(f"{column} = 0")

        def reset(connection: sqlite3.Connection) -> None:
            if read(connection):
                write(connection)

        return reset

    @property
    def counter(self) -> int:
        return int(self._failing_open(0, self._value("failures")) or 0)

    @property
    def success_counter(self) -> int:
        return int(self._failing_open(0, self._value("successes")) or 0)

    @property
    def opened_at(self) -> datetime | None:
        opened = self._failing_open(None, self._value("opened_at"))
        return None if opened is None else datetime.fromtimestamp(float(opened), UTC)

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        self._failing_open(None, self._update("opened_at = ?", when.timestamp()))

    # ---------------------------------------------------------------- the atomic transitions

    def trip(self, probe_token: str | None) -> str | None:
        return self._transition(None, lambda stored, now: stored.trip(probe_token, now))

    def take_probe(self, token: str, reset_timeout: float) -> Lease:
        return self._transition(
            Lease(), lambda stored, now: stored.take_probe(token, reset_timeout, now)
        )

    def release_probe(self, token: str) -> None:
        self._transition(None, lambda stored, _now: stored.release_probe(token))

    def close(self, probe_token: str | None) -> str | None:
        return self._transition(None, lambda stored, now: stored.close(probe_token, now))

    def snapshot(self, reset_timeout: float) -> BreakerSnapshot:
        def read(connection: sqlite3.Connection) -> BreakerSnapshot:
            return self._row(connection).snapshot(self.breaker_name, reset_timeout, self._clock())

        unknown = BreakerSnapshot(self.breaker_name, "closed", 0, None, None, unknown=True)
        return self._failing_open(unknown, read)

    # An operator's commands raise rather than fail open: the caller must know.

    def hold(self, held: bool, note: str = "") -> None:
        with self._transaction(self._connection()) as stored:
            stored.held, stored.note = held, note

    def reset(self, note: str = "") -> None:
        with self._transaction(self._connection()) as stored:
            for name, value in vars(StoredState(note=note)).items():
                setattr(stored, name, value)

"""Fixtures of the integration tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from logistics.adapters.orm import ALIAS
from logistics.models import ShipmentRecord
from outbox.models import OutboxMessage


@pytest.fixture
def logistics_shared_by_threads(transactional_db: None, tmp_path: Path) -> Iterator[None]:
    """The logistics database, written by several threads at once as in production.

    On PostgreSQL that is the test database as it is. SQLite's test database lives in memory
    with a shared cache, where a second writer fails at once ("database table is locked")
    instead of waiting for the first; so on SQLite the test gets a file of its own instead,
    opened with the production options (WAL, the write lock taken at BEGIN, a busy timeout),
    with the shipments' table and the outbox's, which records their events.
    """
    memory = connections[ALIAS]
    if memory.vendor != "sqlite":
        yield
        return
    memory_settings = connections.settings[ALIAS]
    file_settings = {**memory_settings, "NAME": str(tmp_path / "logistics.sqlite3")}
    connections.settings[ALIAS] = file_settings  # every new thread's connection
    on_file = type(memory)(file_settings, ALIAS)
    connections[ALIAS] = on_file  # this thread's
    try:
        with on_file.schema_editor() as editor:
            editor.create_model(ShipmentRecord)
            editor.create_model(OutboxMessage)
        yield
    finally:
        on_file.close()
        connections[ALIAS] = memory
        connections.settings[ALIAS] = memory_settings

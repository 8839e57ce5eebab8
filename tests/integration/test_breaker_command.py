"""``manage.py breaker``: what it prints, its exit codes, and the state every process then sees.

In-process calls (``call_command``) use the suite's storage (the test's own state file, or
Redis when the suite runs with REDIS_URL). The commands that must reach other processes run as
``manage.py`` processes on the embedded defaults (no REDIS_URL: the state file under the
temporary MONOLITHOS_VAR_DIR), and another interpreter's breaker is asked what it decides.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from logistics.wiring import supplier_breaker

ROOT = Path(__file__).resolve().parents[2]


class SupplierDown(Exception):
    pass


def breaker(*args: str) -> str:
    out = io.StringIO()
    call_command("breaker", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as error:
        breaker(*args)
    return error.value


def test_status_says_state_failures_lease_storage_and_the_last_operator():
    supplier_breaker().storage.increment_counter()

    status = breaker("status")

    assert "supplier breaker: closed" in status
    assert "failures in a row: 1 (opens at 12" in status
    assert f"storage:           {supplier_breaker().storage.where}" in status
    assert "last operator:     -" in status


def test_open_holds_the_breaker_with_the_reason_and_says_so_logged_once(log_lines):
    said = breaker("open", "--reason", "supplier maintenance", "--actor", "ada")

    assert said.startswith("supplier breaker held open: every process refuses supplier calls")
    snapshot = supplier_breaker().state()
    assert (snapshot.state, snapshot.forced) == ("open", True)
    assert snapshot.note.startswith("open by ada at ")
    assert snapshot.note.endswith(": supplier maintenance")
    [line] = log_lines.events("circuit_breaker_operator")
    assert (line["command"], line["reason"], line["actor"]) == (
        "open",
        "supplier maintenance",
        "ada",
    )
    assert (line["from_state"], line["to_state"]) == ("closed", "open")
    assert "OPEN, held by an operator" in breaker("status")
    assert "no probe until `breaker close`" in breaker("status")


def test_opening_an_open_breaker_again_changes_nothing_but_the_note_and_says_so():
    breaker("open", "--reason", "first")

    again = breaker("open", "--reason", "second")

    assert "(it was already OPEN, held by an operator)" in again
    assert supplier_breaker().state().note.endswith(": second")


def test_close_lifts_the_hold_and_forgets_the_failures():
    breaker("open", "--reason", "maintenance")

    said = breaker("close", "--reason", "supplier back")

    assert said.startswith("supplier breaker closed: every process calls the supplier again")
    snapshot = supplier_breaker().state()
    assert (snapshot.state, snapshot.forced, snapshot.failures) == ("closed", False, 0)
    assert supplier_breaker().call(lambda: "called") == "called"


def test_reset_forgets_every_count_without_a_transition(log_lines):
    guarded = supplier_breaker()
    for _ in range(3):
        with pytest.raises(SupplierDown):
            guarded.call(_fail)

    said = breaker("reset", "--reason", "counts from a test run")

    assert "reset: closed, with no failures" in said
    assert (guarded.state().state, guarded.state().failures) == ("closed", 0)
    assert not log_lines.events("circuit_breaker_state_changed")


def _fail() -> None:
    raise SupplierDown


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_reason_is_refused_with_usage_status_and_nothing_changes(reason):
    error = refused("open", "--reason", reason)

    assert (error.returncode, str(error)) == (2, "--reason must say why")
    assert supplier_breaker().state().state == "closed"


# ------------------------------------------------------------------ other processes


def embedded_defaults(var_dir: Path, **variables: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "BREAKER_STATE_FILE", "CACHE_URL"}
    }
    return {**env, "MONOLITHOS_VAR_DIR": str(var_dir), **variables}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "breaker", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


ANOTHER_PROCESS = """
import django
django.setup()
from logistics.adapters.breaker import CircuitOpen
from logistics.wiring import supplier_breaker
try:
    print(supplier_breaker().call(lambda: "called"))
except CircuitOpen:
    print("refused")
"""


def another_process_decides(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", ANOTHER_PROCESS],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()[-1]


def test_on_the_embedded_defaults_the_command_drives_every_other_processs_breaker(tmp_path):
    env = embedded_defaults(tmp_path)
    assert another_process_decides(env) == "called"

    opened = manage(env, "open", "--reason", "supplier maintenance")

    assert opened.returncode == 0, opened.stderr
    assert another_process_decides(env) == "refused"
    status = manage(env, "status")
    assert "OPEN, held by an operator" in status.stdout
    assert f"SQLite file {tmp_path / 'breaker.sqlite3'}" in status.stdout
    assert manage(env, "close", "--reason", "supplier back").returncode == 0
    assert another_process_decides(env) == "called"


def test_a_missing_reason_is_a_usage_error_with_exit_status_2(tmp_path):
    result = manage(embedded_defaults(tmp_path), "open")

    assert result.returncode == 2
    assert "the following arguments are required: --reason" in result.stderr


def test_an_unreachable_store_is_exit_status_1_and_nothing_changed(tmp_path):
    not_a_file = tmp_path / "breaker.sqlite3"
    not_a_file.mkdir()
    env = embedded_defaults(tmp_path, BREAKER_STATE_FILE=str(not_a_file))

    opened = manage(env, "open", "--reason", "maintenance")
    status = manage(env, "status")

    assert opened.returncode == 1
    assert "nothing changed: the breaker's state could not be written" in opened.stderr
    assert status.returncode == 1
    assert "UNKNOWN" in status.stdout
    assert "the breaker's state cannot be read" in status.stderr

"""The log a developer reads: what the project's own logging configuration writes, line by line.

Each test installs ``settings.LOGGING`` as ``observability.logging.logging_config`` builds it
(the formatter, the chatter filter, the level) with its handler writing to a buffer, in the
console format of the embedded defaults or in JSON, and puts it back afterwards. The system
test (tests/system/test_development_log.py) reads the same from the processes `make run` starts.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import logging.config
import os
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app, shared_task
from celery.beat import ScheduleEntry, Scheduler
from celery.exceptions import Retry
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from kombu import Connection

from bench.harness.mails import read_messages
from config.celery import TaskLogStep
from logistics.contracts import CreateShipment, ItemIn
from logistics.models import ShipmentRecord
from logistics.tasks import dispatch_shipment
from logistics.wiring import build_logistics_service
from monolithos.order_manager import OrderManager
from observability.logging import logging_config
from outbox.tasks import sweep_outbox
from tests.characterization.shop import order_payload
from tests.factories import ProductFactory

ROOT = Path(__file__).resolve().parents[2]
# What must never reach a log line: the order's customer, as placed by order_payload().
PERSONAL = ("ada@example.com", "Analytical Row", "Ada Lovelace")
FAILING = "tests.development_log.fails"
SWEEP = "tests.development_log.sweep"


class Log:
    """What the configured handler wrote: the raw text, and its JSON lines when it is JSON."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines_with(self, fragment: str) -> list[str]:
        return [line for line in self.text.splitlines() if fragment in line]

    def events(self, name: str) -> list[dict[str, Any]]:
        lines = (json.loads(line) for line in self.text.splitlines() if line.startswith("{"))
        return [line for line in lines if line.get("event") == name]


ConfigureLog = Callable[..., Log]


@pytest.fixture
def configured_log() -> Iterator[ConfigureLog]:
    """``configured_log(json=False, level="INFO")``: the project's logging, into a buffer."""

    def configure(*, json: bool = False, level: str = "INFO") -> Log:
        stream = io.StringIO()
        config = logging_config(json=json, level=level)
        config["handlers"]["default"]["stream"] = stream
        logging.config.dictConfig(config)
        return Log(stream)

    try:
        yield configure
    finally:
        logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def worker_log_step() -> Iterator[None]:
    """django-structlog's worker receivers, connected as a worker's start-up connects them."""
    step = TaskLogStep(parent=None)
    try:
        yield
    finally:
        del step
        gc.collect()  # its receivers are weak references: gone with it


@shared_task(name=FAILING)
def fails(customer_email: str) -> None:
    shipping_address = "12 Analytical Row, London"  # a local variable of the failing frame
    raise ValueError(f"no such customer: {customer_email} ({len(shipping_address)} characters)")


@shared_task(name=SWEEP)
def sweep(found: int) -> int:
    return found


# ------------------------------------------------------------------ deferrals and tracebacks


@pytest.mark.django_db
@pytest.mark.simulator
@pytest.mark.parametrize("as_json", [False, True], ids=["console", "json"])
def test_a_legacy_dispatch_the_supplier_refused_is_one_line_with_its_reason(
    client, supplier, configured_log, as_json
):
    log = configured_log(json=as_json)
    supplier.set_chaos(failure_rate=1.0)
    ProductFactory(sku="PALLET", stock=10)

    response = client.post("/api/orders/", data=order_payload(), content_type="application/json")

    assert response.status_code == 201
    assert response.json()["shipping_status"] == "dispatch_failed"
    [line] = log.lines_with("dispatch_deferred")
    assert "supplier error: 503" in line
    assert "Traceback" not in log.text
    for personal in PERSONAL:
        assert personal not in log.text
    if as_json:
        [deferred] = log.events("dispatch_deferred")
        assert (deferred["level"], deferred["reason"]) == ("warning", "supplier error: 503")
        assert "exception" not in deferred


@pytest.mark.django_db
@pytest.mark.simulator
@pytest.mark.parametrize("as_json", [False, True], ids=["console", "json"])
def test_an_unexpected_dispatch_error_keeps_its_traceback_without_locals_or_personal_data(
    client, supplier, configured_log, monkeypatch, as_json
):
    log = configured_log(json=as_json)
    ProductFactory(sku="PALLET", stock=10)

    def logistics_database_down(self: OrderManager, order: Any) -> None:
        customer = order.customer.email  # a local the traceback must not show
        raise RuntimeError(f"logistics database down while shipping to {customer}")

    monkeypatch.setattr(OrderManager, "dispatch", logistics_database_down)

    response = client.post("/api/orders/", data=order_payload(), content_type="application/json")

    assert response.status_code == 201
    assert "Traceback (most recent call last)" in log.text
    assert "RuntimeError: logistics database down while shipping to [masked]" in log.text
    assert "locals" not in log.text and "customer =" not in log.text
    for personal in PERSONAL:
        assert personal not in log.text
    if as_json:
        [deferred] = log.events("dispatch_deferred")
        assert deferred["level"] == "error"
        assert "logistics_database_down" in deferred["exception"]


@pytest.mark.django_db
@pytest.mark.parametrize("as_json", [False, True], ids=["console", "json"])
def test_a_failed_task_logged_by_celery_and_the_project_shows_no_locals_nor_personal_data(
    configured_log, worker_log_step, as_json
):
    log = configured_log(json=as_json)

    result = fails.apply(kwargs={"customer_email": "ada@example.com"})

    assert result.state == "FAILURE"
    # Once, in django-structlog's task_failed line: Celery's own failure line repeated it.
    assert log.text.count("Traceback (most recent call last)") == 1
    assert "raised unexpected" not in log.text
    assert "ValueError: no such customer: [masked]" in log.text
    assert "shipping_address =" not in log.text and "locals" not in log.text
    for personal in PERSONAL:
        assert personal not in log.text


@pytest.mark.django_db
@pytest.mark.simulator
def test_a_dispatch_deferred_by_the_worker_ends_with_one_line_saying_why(
    supplier, configured_log, worker_log_step, settings, monkeypatch
):
    log = configured_log(json=True)
    settings.SUPPLIER_BACKGROUND_ATTEMPTS = 1
    supplier.set_chaos(failure_rate=1.0)
    shipment = build_logistics_service().create_shipment(
        CreateShipment(
            order_ref="ORD-000001",
            destination="1 Dock Road",
            items=[ItemIn(sku="BOX-S", quantity=1)],
        )
    )
    # The retry Celery makes, without running it again at once as an eager retry would.
    monkeypatch.setattr(
        dispatch_shipment,
        "retry",
        lambda countdown, exc: Retry(exc=exc, when=countdown),
    )

    result = dispatch_shipment.apply(args=(str(shipment.id),))

    assert result.state == "RETRY"
    last_error = ShipmentRecord.objects.get(pk=shipment.id).last_error
    [retrying] = log.events("task_retrying")
    assert (retrying["reason"], retrying["shipment_id"]) == (last_error, str(shipment.id))
    assert retrying["retry_in_s"] > 0 and "exception" not in retrying
    # Celery's own "retry: Retry in ..." line says it again: at DEBUG, not shown at INFO.
    assert not log.lines_with("retry: Retry in")
    assert "Traceback" not in log.text


# ------------------------------------------------------------------ chatter at DEBUG


def send_due_entry_as_beat_does(monkeypatch) -> None:
    monkeypatch.setattr(Scheduler, "apply_async", lambda *args, **kwargs: None)
    scheduler = Scheduler(current_app, lazy=True)
    entry = ScheduleEntry(name="sweep-outbox", task="outbox.tasks.sweep_outbox", app=current_app)
    scheduler.apply_entry(entry)


@pytest.mark.django_db
def test_beats_schedule_and_a_sweep_that_found_nothing_are_not_written_at_info(
    configured_log, worker_log_step, monkeypatch
):
    log = configured_log(json=True, level="INFO")

    send_due_entry_as_beat_does(monkeypatch)
    assert sweep_outbox.apply().result == 0

    assert log.text == ""


@pytest.mark.django_db
def test_with_log_level_debug_the_chatter_is_there_at_debug(
    configured_log, worker_log_step, monkeypatch
):
    log = configured_log(json=True, level="DEBUG")

    send_due_entry_as_beat_does(monkeypatch)
    sweep_outbox.apply()

    lines = [json.loads(line) for line in log.text.splitlines()]
    beat = [line for line in lines if line["event"].startswith("Scheduler: Sending due task")]
    celerys = [line for line in lines if "succeeded in" in line["event"]]
    [succeeded] = [line for line in lines if line["event"] == "task_succeeded"]
    assert [line["level"] for line in beat + celerys] == ["debug", "debug"]
    assert (succeeded["level"], succeeded["result"]) == ("debug", 0)


@pytest.mark.django_db
def test_a_scheduled_task_that_did_something_keeps_its_line_at_info_with_what_it_did(
    configured_log, worker_log_step, settings
):
    settings.CELERY_BEAT_SCHEDULE = {"test-sweep": {"task": SWEEP, "schedule": 10.0}}
    log = configured_log(json=True)

    sweep.apply(args=(0,))
    sweep.apply(args=(3,))

    [succeeded] = log.events("task_succeeded")
    assert (succeeded["level"], succeeded["result"], succeeded["task"]) == ("info", 3, SWEEP)


@pytest.mark.django_db
def test_a_task_outside_beats_schedule_keeps_its_final_line_whatever_it_returns(
    configured_log, worker_log_step
):
    log = configured_log(json=True)

    sweep.apply(args=(0,))

    [succeeded] = log.events("task_succeeded")
    assert succeeded["level"] == "info" and "result" not in succeeded


# ------------------------------------------------------------------ mail, gunicorn, kombu


def test_a_mail_goes_to_a_file_with_one_line_saying_where(configured_log, tmp_path):
    log = configured_log(json=True)
    connection = get_connection("notifications.mail_files.MailFileBackend", file_path=tmp_path)

    EmailMessage(
        "Your order ORD-000042", "Hello Ada Lovelace", to=["ada@example.com"], connection=connection
    ).send()

    [written] = log.events("mail_written")
    [file] = tmp_path.iterdir()
    assert (written["path"], written["subject"], written["recipients"]) == (
        str(file),
        "Your order ORD-000042",
        1,
    )
    for personal in (*PERSONAL, "Content-Type", "Hello"):
        assert personal not in log.text
    [message] = read_messages(tmp_path)  # what the system tests and benchmarks read
    assert (message["Subject"], message["To"]) == ("Your order ORD-000042", "ada@example.com")


def settings_in_a_fresh_process(names: str, **variables: str) -> list[str]:
    return printed_in_a_fresh_process(
        "from django.conf import settings; "
        f"print(*(getattr(settings, name) for name in {names.split()!r}))",
        **variables,
    )


def printed_in_a_fresh_process(code: str, **variables: str) -> list[str]:
    """What ``code`` prints after django.setup() on the embedded defaults (no mail server, no
    Redis), with ``variables`` set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"EMAIL_HOST", "EMAIL_BACKEND", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    script = f"import django; django.setup(); {code}"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_without_a_mail_server_mails_go_to_files_and_the_broker_url_names_its_host(tmp_path):
    backend, broker = settings_in_a_fresh_process(
        "EMAIL_BACKEND CELERY_BROKER_URL", MONOLITHOS_VAR_DIR=str(tmp_path)
    )

    assert backend == "notifications.mail_files.MailFileBackend"
    assert broker == settings.FILESYSTEM_BROKER_URL


def test_a_worker_on_the_filesystem_broker_looks_for_messages_ten_times_a_second(tmp_path):
    """The transport cannot wake a consumer: at kombu's 1 s a worker of four threads ran about
    four tasks a second (docs/adr/0008)."""
    code = (
        "from config.celery import app; "
        "connection = app.connection_for_read(); "
        "print(connection.transport_cls, connection.transport.polling_interval)"
    )

    assert printed_in_a_fresh_process(code, MONOLITHOS_VAR_DIR=str(tmp_path)) == [
        "filesystem",
        "0.1",
    ]
    assert printed_in_a_fresh_process(
        code, MONOLITHOS_VAR_DIR=str(tmp_path), CELERY_FILESYSTEM_POLLING_SECONDS="0.5"
    ) == ["filesystem", "0.5"]


def test_gunicorns_access_line_is_off_unless_asked_for(monkeypatch):
    monkeypatch.delenv("GUNICORN_ACCESS_LOG", raising=False)
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["accesslog"] is None

    monkeypatch.setenv("GUNICORN_ACCESS_LOG", "-")
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.py"))["accesslog"] == "-"


def test_publishing_on_the_filesystem_broker_draws_no_missing_host_warning(
    configured_log, tmp_path
):
    log = configured_log(json=True)
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}

    with Connection(settings.FILESYSTEM_BROKER_URL, transport_options=options) as connection:
        current_app.send_task("tests.development_log.sweep", args=[0], connection=connection)
        connection.clone().release()  # what a producer pool does on every publish
        shown = connection.as_uri()  # what a worker's banner shows

    assert shown == "filesystem://:**@localhost//"
    assert len(list(tmp_path.glob("*.msg"))) == 1
    assert not log.lines_with("No hostname was supplied")
    with Connection("filesystem://", transport_options=options) as hostless:
        hostless.clone().release()
    assert log.lines_with("No hostname was supplied")  # the cause, as it was


def test_a_shipment_contracts_validation_error_carries_no_address():
    with pytest.raises(ValueError) as refused:
        CreateShipment(order_ref="ORD-000001", destination="12 Analytical Row " * 200, items=[])

    assert "Analytical Row" not in str(refused.value)
    assert "destination" in str(refused.value)

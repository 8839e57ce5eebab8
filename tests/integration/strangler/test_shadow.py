"""Shadow mode: legacy answers, unchanged; the candidate is compared within its budget, its
errors recorded and never raised; a write's candidate leaves nothing behind."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from celery import current_app
from django.core import mail
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve
from django.utils import timezone
from prometheus_client import REGISTRY

from logistics.models import ShipmentRecord
from logistics.public import CreateShipment, ItemIn, build_logistics_service
from monolithos.models import Customer, Invoice, Order, Product
from notifications.models import Notification
from notifications.public import NotificationService
from outbox.messages import Message, publish
from outbox.models import OutboxMessage
from strangler import publisher
from strangler.comparison import Comparator
from strangler.experiment import Experiment
from strangler.facade import StrangledView
from strangler.models import ShadowMismatch
from strangler.pool import BoundedPool, InlineExecutor
from strangler.tasks import purge_mismatches
from strangler.testing import FakeClock, override_modes
from tests.characterization.shop import order_payload, place
from tests.integration.strangler.toys import Handler

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

toy_urls = pytest.mark.urls("tests.integration.strangler.toy_urls")


def results(route: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_strangler_shadow_results_total", {"route": route, "result": result}
    )
    return value or 0.0


def final_line(log_lines) -> dict[str, Any]:
    [line] = log_lines.events("request_finished") or log_lines.events("request_failed")
    return dict(line)


def candidates_timed(route: str) -> float:
    value = REGISTRY.get_sample_value(
        "monolithos_strangler_candidate_seconds_count", {"route": route}
    )
    return value or 0.0


def body(response) -> Any:
    return json.loads(response.content)


def view_of(path: str) -> StrangledView:
    view = resolve(path).func
    assert isinstance(view, StrangledView)
    return view


def use_candidate(monkeypatch, path: str, candidate: Any) -> None:
    monkeypatch.setattr(view_of(path), "new", candidate)


def post_toy(client, email: str = "ada@example.com"):
    return client.post("/toy/write/", {"customer_email": email}, content_type="application/json")


# ---------------------------------------------------------------------- the control's answer


@toy_urls
def test_the_legacy_answer_is_returned_unchanged_and_a_match_is_counted(
    client, monkeypatch, log_lines
):
    before = results("toy_read", "match")
    timed = candidates_timed("toy_read")
    with override_modes({"toy_read": "legacy"}):
        alone = client.get("/toy/read/7/")
    use_candidate(monkeypatch, "/toy/read/7/", Handler("legacy"))  # answers as legacy does

    with override_modes({"toy_read": "shadow"}):
        shadowed = client.get("/toy/read/7/")

    assert (shadowed.status_code, shadowed.content) == (alone.status_code, alone.content)
    assert results("toy_read", "match") == before + 1
    assert candidates_timed("toy_read") == timed + 1
    line = log_lines.events("request_finished")[-1]
    assert (line["route"], line["side"], line["shadow"]) == ("toy_read", "legacy", "match")
    assert log_lines.events("strangler_shadow") == []  # a match is logged at debug level only


@toy_urls
def test_a_mismatch_is_stored_with_both_answers_the_diff_and_the_key_and_counted(client, log_lines):
    before = results("toy_read", "mismatch")

    with override_modes({"toy_read": "shadow"}):
        response = client.get("/toy/read/42/")

    assert response.json() == {"side": "legacy", "item": "42"}
    [stored] = ShadowMismatch.objects.all()
    assert (stored.route, stored.outcome, stored.routing_key) == ("toy_read", "mismatch", "42")
    assert stored.diff == {"body.side": ["legacy", "new"]}
    assert stored.control["body"] == {"side": "legacy", "item": "42"}
    assert stored.candidate is not None
    assert stored.candidate["body"] == {"side": "new", "item": "42"}
    assert results("toy_read", "mismatch") == before + 1
    assert final_line(log_lines)["shadow"] == "mismatch"


# ---------------------------------------------------------------------- the candidate fails


@toy_urls
@pytest.mark.parametrize("path", ["/toy/read/7/", "/toy/write/"])
def test_a_candidate_that_raises_is_recorded_and_never_reaches_the_client(
    client, monkeypatch, log_lines, path
):
    use_candidate(monkeypatch, path, Handler("new", raises=ZeroDivisionError("oops")))
    route = view_of(path).route.name
    before = results(route, "error")

    with override_modes({route: "shadow"}):
        response = client.get(path) if "read" in path else post_toy(client)

    assert response.status_code == 200
    assert response.json()["side"] == "legacy"
    [stored] = ShadowMismatch.objects.all()
    assert (stored.outcome, stored.error) == ("error", "ZeroDivisionError: oops")
    assert results(route, "error") == before + 1
    assert final_line(log_lines)["shadow"] == "error"


class SlowCandidate:
    """A candidate that takes ``seconds`` of the injected clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def __call__(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        self.clock.advance(self.seconds)
        return JsonResponse({"side": "legacy", **kwargs})


@toy_urls
@pytest.mark.parametrize("path", ["/toy/read/7/", "/toy/write/"])
def test_a_candidate_over_its_budget_is_abandoned_and_counted(client, monkeypatch, log_lines, path):
    clock = FakeClock()
    use_candidate(monkeypatch, path, SlowCandidate(clock, 0.6))
    route = view_of(path).route.name
    before = results(route, "timeout")

    with override_modes({route: "shadow"}, clock=clock, budget_seconds=0.5):
        response = client.get(path) if "read" in path else post_toy(client)

    assert response.json()["side"] == "legacy"
    assert results(route, "timeout") == before + 1
    assert final_line(log_lines)["shadow"] == "timeout"
    assert ShadowMismatch.objects.count() == 0  # an abandoned answer is not compared


@toy_urls
def test_a_candidate_within_its_budget_is_compared(client, monkeypatch):
    clock = FakeClock()
    use_candidate(monkeypatch, "/toy/read/7/", SlowCandidate(clock, 0.4))
    before = results("toy_read", "match")

    with override_modes({"toy_read": "shadow"}, clock=clock, budget_seconds=0.5):
        client.get("/toy/read/7/")

    assert results("toy_read", "match") == before + 1


# ---------------------------------------------------------------------- a write leaves nothing


class WritingCandidate:
    """Writes on both databases, hands work to the outbox and queues a mail, then answers."""

    def __call__(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        Product.objects.create(sku="GHOST", name="ghost", price="1.00", stock=1)
        build_logistics_service().create_shipment(
            CreateShipment(
                order_ref="ORD-GHOST", destination="x", items=[ItemIn(sku="G", quantity=1)]
            )
        )
        publish(Message(task="outbox.tasks.relay_messages", key="ghost", kwargs={"keys": []}))
        NotificationService().notify(
            "sales_new_order",
            "sales@monolithos.example",
            {"customer_email": "ghost@example.com", "total": "EUR 1"},
            idempotency_key="ghost",
        )
        return JsonResponse({"side": "legacy"})


@toy_urls
def test_a_write_candidate_leaves_no_row_no_outbox_message_no_mail_and_no_relay(
    client, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    use_candidate(monkeypatch, "/toy/write/", WritingCandidate())

    with (
        override_modes({"toy_write": "shadow"}),
        django_capture_on_commit_callbacks() as relays,
    ):
        response = post_toy(client)

    assert response.json() == {"side": "legacy"}
    assert not Product.objects.filter(sku="GHOST").exists()
    assert not ShipmentRecord.objects.filter(order_ref="ORD-GHOST").exists()
    assert OutboxMessage.objects.count() == 0
    assert Notification.objects.count() == 0
    assert relays == []  # the relay the outbox registered went with the rollback
    assert mailoutbox == []
    assert ShadowMismatch.objects.count() == 0  # it answered like legacy


def sends_a_mail(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    mail.send_mail("hello", "body", "a@example.com", ["b@example.com"])
    return JsonResponse({"side": "legacy"})


def calls_the_supplier(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    from django.conf import settings

    requests.post(f"{settings.SUPPLIER_API_URL}/v1/dispatches", json={}, timeout=2)
    return JsonResponse({"side": "legacy"})


def publishes_a_task(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    current_app.send_task("outbox.tasks.sweep_outbox")
    return JsonResponse({"side": "legacy"})


@toy_urls
@pytest.mark.simulator
@pytest.mark.parametrize(
    ("candidate", "refused"),
    [
        (sends_a_mail, "send a mail"),
        (calls_the_supplier, "make an HTTP call"),
        (publishes_a_task, "publish a task to the broker"),
    ],
)
def test_a_write_candidate_may_not_mail_call_the_supplier_or_publish_a_task(
    client, monkeypatch, mailoutbox, supplier, candidate, refused
):
    use_candidate(monkeypatch, "/toy/write/", candidate)

    with override_modes({"toy_write": "shadow"}):
        response = post_toy(client)

    assert response.json() == {"side": "legacy"}
    assert mailoutbox == []
    assert supplier.received() == []
    [stored] = ShadowMismatch.objects.all()
    assert stored.error == f"SideEffectRefused: a shadow write may not {refused}"


@toy_urls
def test_outside_a_shadow_write_nothing_is_refused(client, monkeypatch, mailoutbox):
    monkeypatch.setattr(resolve("/toy/write/").func, "legacy", sends_a_mail)

    with override_modes({"toy_write": "legacy"}):
        post_toy(client)

    assert len(mailoutbox) == 1


@pytest.mark.simulator
def test_a_shadowed_placement_leaves_only_the_legacy_order_and_its_effects(
    client, supplier, mailoutbox, settings
):
    Product.objects.create(sku="PALLET", name="Euro pallet", price="18.50", stock=120)

    with override_modes({"api_place_order": "shadow"}):
        response = place(client, order_payload())

    assert response.status_code == 201
    assert Order.objects.count() == Invoice.objects.count() == Customer.objects.count() == 1
    assert Product.objects.get(sku="PALLET").stock == 118  # taken once
    assert OutboxMessage.objects.count() == 0
    assert len(mailoutbox) == 2  # legacy's two mails
    assert len(supplier.ledger()) == 1  # legacy's dispatch


def placements(side: str, outcome: str) -> tuple[float, float]:
    """The placement SLI: the histogram's count and the placed (or failed) counter."""
    timed = REGISTRY.get_sample_value(
        "monolithos_order_placement_seconds_count", {"side": side, "outcome": outcome}
    )
    if outcome == "placed":
        counted = REGISTRY.get_sample_value("monolithos_orders_placed_total", {"side": side})
    else:
        counted = REGISTRY.get_sample_value(
            "monolithos_orders_failed_total", {"side": side, "reason": outcome}
        )
    return (timed or 0.0, counted or 0.0)


@pytest.mark.simulator
def test_a_shadowed_placement_counts_the_legacy_order_only(client, supplier, log_lines):
    Product.objects.create(sku="PALLET", name="Euro pallet", price="18.50", stock=120)
    before = {
        (side, outcome): placements(side, outcome)
        for side in ("legacy", "new")
        for outcome in ("placed", "rejected")
    }

    with override_modes({"api_place_order": "shadow"}):
        placed = place(client, order_payload())
        rejected = place(client, order_payload(lines=[{"sku": "NOPE", "quantity": 1}]))

    assert (placed.status_code, rejected.status_code) == (201, 400)
    assert results("api_place_order", "match") >= 2

    def moved(side: str, outcome: str) -> tuple[float, float]:
        now, then = placements(side, outcome), before[(side, outcome)]
        return (now[0] - then[0], now[1] - then[1])

    assert moved("legacy", "placed") == (1, 1)
    assert moved("legacy", "rejected") == (1, 1)
    assert moved("new", "placed") == (0, 0)  # the candidate's order was rolled back
    assert moved("new", "rejected") == (0, 0)
    lines = log_lines.events("order_placement")
    shadowed = [(line["side"], line["outcome"]) for line in lines if line.get("shadow")]
    assert shadowed == [("new", "placed"), ("new", "rejected")]


# ---------------------------------------------------------------------- hooks and the pool


@toy_urls
def test_an_error_in_a_hook_never_reaches_the_request(client, monkeypatch, log_lines):
    def broken_publish(result: Any) -> None:
        raise RuntimeError("the results store is down")

    monkeypatch.setattr(publisher, "publish", broken_publish)

    with override_modes({"toy_read": "shadow"}):
        response = client.get("/toy/read/7/")

    assert response.json()["side"] == "legacy"
    [failed] = log_lines.events("strangler_hook_failed")
    assert failed["hook"] == "publish"


def broken_normalizer(observation: Any) -> Any:
    raise ValueError("cannot clean")


def test_a_comparator_that_raises_makes_an_error_result_not_an_error_response():
    experiment = Experiment(
        name="toy",
        comparator=Comparator(normalizers=(broken_normalizer,)),
        budget_seconds=1.0,
        clock=FakeClock(),
        executor=InlineExecutor(),
        publish=lambda result: None,
    )

    response, result = experiment.run_after(
        lambda: JsonResponse({"a": 1}), lambda: JsonResponse({"a": 1})
    )

    assert body(response) == {"a": 1}
    assert result.outcome == "error"


def blocked_candidate(release: threading.Event, clock: FakeClock | None = None) -> Any:
    def candidate() -> HttpResponse:
        release.wait(timeout=30)
        if clock is not None:
            clock.advance(2.0)  # it took two seconds
        return JsonResponse({"a": 1})

    return candidate


def experiment_on(pool: Any, budget: float, clock: FakeClock, published: list) -> Experiment:
    return Experiment(
        name="toy",
        comparator=Comparator(),
        budget_seconds=budget,
        clock=clock,
        executor=pool,
        publish=published.append,
    )


def test_a_read_candidate_runs_on_the_pool_after_the_answer_and_publishes_its_result():
    order: list[str] = []
    published: list[Any] = []
    release = threading.Event()

    def control() -> HttpResponse:
        order.append("control")
        return JsonResponse({"a": 1})

    def candidate() -> HttpResponse:
        release.wait(timeout=30)
        order.append(threading.current_thread().name)
        return JsonResponse({"a": 1})

    experiment = experiment_on(BoundedPool(1), 1.0, FakeClock(), published)
    response, result = experiment.run_after(control, candidate)
    assert (result.outcome, published) == ("pending", [])  # nobody waits for the candidate
    release.set()
    assert result.pending is not None
    finished = result.pending.result(timeout=30)

    assert body(response) == {"a": 1}
    assert order[0] == "control" and order[1].startswith("strangler-shadow")
    assert finished.outcome == "match"
    assert [r.outcome for r in published] == ["match"]


def test_a_read_candidate_over_its_budget_is_abandoned_and_its_answer_discarded():
    release, clock = threading.Event(), FakeClock()
    published: list[Any] = []
    experiment = experiment_on(BoundedPool(1), 0.5, clock, published)

    response, result = experiment.run_after(
        lambda: JsonResponse({"a": 1}), blocked_candidate(release, clock)
    )
    release.set()
    assert result.pending is not None
    result.pending.result(timeout=30)

    assert body(response) == {"a": 1}
    assert [r.outcome for r in published] == ["timeout"]
    assert published[0].candidate is None


@toy_urls
def test_a_read_candidate_starts_only_once_its_requests_answer_has_left(
    client, monkeypatch, log_lines
):
    ran = threading.Event()
    seen_at_start: list[int] = []

    def candidate(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        seen_at_start.append(len(log_lines.events("request_finished")))
        ran.set()
        return JsonResponse({"side": "legacy", **kwargs})

    use_candidate(monkeypatch, "/toy/read/7/", candidate)

    with override_modes({"toy_read": "shadow"}, executor=BoundedPool(1)):
        response = client.get("/toy/read/7/")
        assert ran.wait(timeout=30)

    assert response.json()["side"] == "legacy"
    assert seen_at_start == [1]  # the request had written its final line
    assert log_lines.events("request_finished")[0]["shadow"] == "pending"


def test_a_full_pool_skips_the_candidate_instead_of_queueing_it():
    release = threading.Event()
    published: list[Any] = []
    pool = BoundedPool(1)  # one thread, one waiting place
    try:
        busy = [pool.try_submit(blocked_candidate(release)) for _ in range(2)]
        response, result = experiment_on(pool, 1.0, FakeClock(), published).run_after(
            lambda: JsonResponse({"a": 1}), blocked_candidate(release)
        )
    finally:
        release.set()

    assert all(future is not None for future in busy)
    assert result.outcome == "skipped"
    assert body(response) == {"a": 1}


def connection_closes(closed: list[str], **state: Any) -> Any:
    """A candidate that opens its pool thread's connection, notes when that is closed, and
    leaves it in ``state`` (``close_at``, ``errors_occurred``...)."""

    def work() -> None:
        from django.db import connections

        connection = connections["default"]
        connection.ensure_connection()
        connection.close = lambda: closed.append("closed")  # type: ignore[method-assign]
        for name, value in state.items():
            setattr(connection, name, value)

    return work


@pytest.mark.parametrize(
    ("conn_max_age", "state", "closed"),
    [
        (0, {}, False),  # one connection per request; a pool thread keeps its own
        (60, {}, False),
        (60, {"close_at": 0.0}, True),  # older than CONN_MAX_AGE
        (0, {"errors_occurred": True, "is_usable": lambda: False}, True),
    ],
)
def test_a_pool_thread_keeps_its_connection_unless_it_is_too_old_or_broken(
    monkeypatch, conn_max_age, state, closed
):
    from django.db import connections

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", conn_max_age)
    pool = BoundedPool(1)
    seen: list[str] = []

    first = pool.try_submit(connection_closes(seen, **state))
    second = pool.try_submit(lambda: None)

    assert first is not None and second is not None
    first.result(timeout=30), second.result(timeout=30)
    assert bool(seen) is closed


# ---------------------------------------------------------------------- retention


def test_mismatches_older_than_the_retention_are_purged(settings):
    settings.STRANGLER_MISMATCH_RETENTION_DAYS = 14
    now = timezone.now()
    for age in (15, 13):
        ShadowMismatch.objects.create(
            created_at=now - timedelta(days=age), route="r", control={}, diff={}
        )

    assert purge_mismatches() == 1
    assert ShadowMismatch.objects.count() == 1


def test_a_candidates_answer_is_released_without_finishing_the_request(tmp_path):
    # Closing the candidate's response would send request_finished mid-request, and Django's
    # receiver closes the request's database connections (PostgreSQL: "connection is closed").
    from django.core.signals import request_finished
    from django.http import FileResponse
    from django.test import RequestFactory

    from strangler.facade import StrangledView
    from tests.integration.strangler.toys import WRITE

    pdf = tmp_path / "file.pdf"
    pdf.write_bytes(b"%PDF-")
    opened: list[Any] = []

    def streams_a_file(request: HttpRequest, **kwargs: Any) -> FileResponse:
        opened.append(pdf.open("rb"))
        return FileResponse(opened[-1], content_type="application/pdf")

    finished: list[Any] = []

    def count(**kwargs: Any) -> None:
        finished.append(kwargs)

    view = StrangledView(WRITE, legacy=Handler("legacy"), new=streams_a_file)
    request = RequestFactory().post("/toy/write/", {}, content_type="application/json")
    request_finished.connect(count)
    try:
        with override_modes({"toy_write": "shadow"}):
            view(request)
    finally:
        request_finished.disconnect(count)

    assert finished == []
    assert opened[0].closed  # the candidate's file was released all the same

"""The notification service on the real database: recorded with an outbox message, sent once.

A notification is recorded in two statements (no savepoint) and named by its idempotency key
from then on: the send task, ``deliver`` and "send again" all take the key.

Mails go to Django's locmem backend (``mailoutbox``); a send failure is a backend that raises.
Tasks run in-process with ``.apply()``. The notifications app lives on ``default`` only.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin import site
from django.contrib.auth.models import Permission, User
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import transaction

from logistics.adapters.notifier import EmailNotifier
from logistics.ports import Notifier
from monolithos.mailer import NotificationService as LegacyMailer
from monolithos.models import Order, OrderLine
from notifications.models import Notification
from notifications.public import Notifications, NotificationService
from notifications.services import deliver, send_again
from notifications.tasks import send_notification
from observability import trace
from outbox.models import FailedTask, OutboxMessage
from tests.factories import CustomerFactory, ProductFactory, StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default"])

# mypy proves one service satisfies the notifications port and the logistics one.
_ports: tuple[Notifications, Notifier, Notifier] = (
    NotificationService(),
    NotificationService(deliver_inline=True),
    EmailNotifier(),
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CANCELLED = {"order_number": "ORD-000042", "shipping_name": "Ada"}


class BrokenMailServer(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise smtplib.SMTPServerDisconnected("mail server gone")


class MailServerFailingOnce(LocmemBackend):
    failures = 1

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        if MailServerFailingOnce.failures:
            MailServerFailingOnce.failures -= 1
            raise smtplib.SMTPServerDisconnected("mail server gone")
        return super().send_messages(messages)


@pytest.fixture
def broken_mail_server(settings: Any) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.BrokenMailServer"


def notify(
    service: NotificationService | None = None,
    *,
    kind: str = "order_cancelled",
    context: Mapping[str, str] = CANCELLED,
    key: str = "order-cancelled:ORD-000042",
) -> Notification | None:
    (service or NotificationService()).notify(kind, "ada@example.com", context, key)
    return Notification.objects.filter(idempotency_key=key).first()


def recorded(key: str = "order-cancelled:ORD-000042") -> Notification:
    notification = notify(key=key)
    assert notification is not None
    return notification


# ---------------------------------------------------------------------- recording


def test_notify_records_the_notification_and_its_outbox_message_and_sends_nothing(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as relays:
        notification = notify()

    assert notification is not None
    assert (notification.kind, notification.recipient, notification.context) == (
        "order_cancelled",
        "ada@example.com",
        CANCELLED,
    )
    assert (notification.status, notification.attempts, notification.sent_at) == (
        "queued",
        0,
        None,
    )
    [message] = OutboxMessage.objects.all()
    assert (message.key, message.task, message.kwargs) == (
        "notification:order-cancelled:ORD-000042",
        "notifications.tasks.send_notification",
        {"idempotency_key": "order-cancelled:ORD-000042"},
    )
    assert len(relays) == 1  # the relay is enqueued once the caller commits
    assert mailoutbox == []


def test_recording_costs_two_statements_in_the_callers_transaction(django_assert_num_queries):
    # The intake's hot path: one INSERT ... ON CONFLICT DO NOTHING each for the notification and
    # its outbox message, no savepoint, no SELECT; a key recorded before costs the same.
    for _ in range(2):
        with transaction.atomic(), django_assert_num_queries(2):
            NotificationService().notify(
                "order_cancelled", "ada@example.com", CANCELLED, "order-cancelled:ORD-000042"
            )

    assert Notification.objects.count() == OutboxMessage.objects.count() == 1


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_recording_outside_a_transaction_is_a_transaction_of_its_own(
    django_assert_num_queries, monkeypatch
):
    from outbox import broker
    from outbox.messages import RELAY_TASK

    relayed: list[list[str]] = []

    def send(task: str, *, args: list[list[str]], **options: Any) -> None:
        assert task == RELAY_TASK
        relayed.append(args[0])

    monkeypatch.setattr(broker, "send", send)

    with django_assert_num_queries(4) as statements:
        NotificationService().notify(
            "order_cancelled", "ada@example.com", CANCELLED, "order-cancelled:ORD-000042"
        )

    assert [q["sql"].split()[0] for q in statements.captured_queries] == [
        "BEGIN",
        "INSERT",
        "INSERT",
        "COMMIT",
    ]
    assert relayed == [["notification:order-cancelled:ORD-000042"]]  # after the commit


def test_a_notification_recorded_in_a_transaction_that_rolls_back_is_gone():
    with transaction.atomic():
        notify()
        transaction.set_rollback(True)

    assert not Notification.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_deliver_sends_the_recorded_mail_and_marks_it_sent(mailoutbox):
    notification = recorded()

    assert deliver("order-cancelled:ORD-000042") is True

    [mail] = mailoutbox
    assert (mail.subject, mail.to, mail.from_email) == (
        "Your order ORD-000042 has been cancelled",
        ["ada@example.com"],
        "orders@monolithos.example",
    )
    assert mail.body == "Hello Ada,\n\nyour order ORD-000042 has been cancelled.\n"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert notification.sent_at is not None


def test_the_same_key_twice_records_one_notification_and_sends_one_mail(mailoutbox):
    first = notify()
    again = notify(context={"order_number": "ORD-000042", "shipping_name": "Someone else"})

    assert first == again
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    deliver("order-cancelled:ORD-000042")
    assert [mail.body.splitlines()[0] for mail in mailoutbox] == ["Hello Ada,"]


def test_delivering_twice_sends_once(mailoutbox):
    notification = recorded()

    key = notification.idempotency_key
    assert [deliver(key), deliver(key)] == [True, False]
    assert len(mailoutbox) == 1


def test_a_mail_sent_again_after_a_lost_commit_is_the_same_message(mailoutbox):
    notification = recorded()
    other = recorded(key="order-cancelled:ORD-000043")
    key = notification.idempotency_key

    deliver(key)
    # The worker died after the mail server took the mail, before its commit: sent again.
    Notification.objects.filter(pk=notification.pk).update(status=Notification.Status.QUEUED)
    deliver(key)
    deliver(other.idempotency_key)

    first, again, different = (mail.message()["Message-ID"] for mail in mailoutbox)
    assert first == again != different
    assert first.endswith("@monolithos.example>")


def test_a_notification_that_no_longer_exists_is_not_delivered(mailoutbox):
    assert deliver("order-cancelled:ORD-999999") is False
    assert mailoutbox == []


def test_the_mail_has_an_html_alternative(mailoutbox):
    notify(
        kind="order_confirmation",
        context={
            "order_number": "ORD-000042",
            "shipping_name": "Tom & Jerry",
            "lines": "  1 x BOX-S  EUR 0.90",
            "total": "EUR 5.85",
        },
        key="order-confirmation:ORD-000042",
    )
    deliver("order-confirmation:ORD-000042")

    [mail] = mailoutbox
    [(html, mimetype)] = mail.alternatives
    assert mimetype == "text/html"
    assert "<p>Hello Tom &amp; Jerry,</p>" in html
    assert "<pre>  1 x BOX-S  EUR 0.90</pre>" in html
    assert mail.body.startswith("Hello Tom & Jerry,\n")


def test_the_trace_id_at_notify_time_travels_as_x_request_id(mailoutbox):
    with trace.bound_trace_id(TRACE_ID):
        notification = recorded()
    assert notification.trace_id == TRACE_ID

    deliver(notification.idempotency_key)  # later, in a worker, under another trace

    [mail] = mailoutbox
    assert mail.extra_headers["X-Request-ID"] == TRACE_ID
    assert mail.message()["X-Request-ID"] == TRACE_ID


def test_a_notification_outside_any_trace_has_no_request_id_header(mailoutbox):
    deliver(recorded().idempotency_key)

    [mail] = mailoutbox
    assert "X-Request-ID" not in mail.extra_headers


@pytest.mark.parametrize(
    ("kind", "context", "key", "error"),
    [
        ("order_shipped", CANCELLED, "k", "unknown notification kind 'order_shipped'"),
        ("order_cancelled", {"order_number": "ORD-1"}, "k", "needs context shipping_name"),
        ("order_cancelled", {**CANCELLED, "total": Decimal("1")}, "k", "must be strings"),
        ("order_cancelled", CANCELLED, "", "idempotency key"),
        ("order_cancelled", CANCELLED, "k" * 151, "idempotency key"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(mailoutbox, kind, context, key, error):
    with pytest.raises(ValueError, match=error):
        NotificationService(deliver_inline=True).notify(kind, "ada@example.com", context, key)

    assert not Notification.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    "recipient", ["", "  ", "ada@example.com\nBcc: eve@example.com", "a" * 243 + "@example.com"]
)
def test_a_bad_recipient_is_refused_and_nothing_is_stored(mailoutbox, recipient):
    # Refused before the INSERT: recorded without a savepoint, a failed INSERT (a recipient too
    # long for its column) would spoil the caller's whole transaction.
    with pytest.raises(ValueError, match="not a recipient"):
        NotificationService(deliver_inline=True).notify(
            "order_cancelled", recipient, CANCELLED, "order-cancelled:ORD-000042"
        )

    assert not Notification.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert mailoutbox == []


# ---------------------------------------------------------------------- inline mode


def test_inline_mode_sends_before_returning_and_gives_the_workers_nothing_to_do(mailoutbox):
    notification = notify(NotificationService(deliver_inline=True))

    assert notification is not None
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert [mail.subject for mail in mailoutbox] == ["Your order ORD-000042 has been cancelled"]
    assert not OutboxMessage.objects.exists()
    # A send task for it all the same (a sweep, an admin) finds the mail sent.
    kwargs = {"idempotency_key": notification.idempotency_key}
    assert send_notification.apply(kwargs=kwargs).result is False
    assert len(mailoutbox) == 1


def test_inline_mode_sends_a_key_once(mailoutbox):
    service = NotificationService(deliver_inline=True)
    notify(service)
    notify(service)

    assert len(mailoutbox) == 1
    assert Notification.objects.get().attempts == 1


def test_inline_mode_sends_a_key_recorded_before_that_was_not_sent_yet(mailoutbox):
    notify()  # queued for a worker
    notification = notify(NotificationService(deliver_inline=True))

    assert notification is not None
    assert (notification.status, notification.attempts) == ("sent", 1)
    assert len(mailoutbox) == 1
    assert OutboxMessage.objects.count() == 1


def test_an_inline_send_that_fails_is_left_to_the_worker_and_the_caller_carries_on(
    broken_mail_server,
):
    notification = notify(NotificationService(deliver_inline=True))

    assert notification is not None
    assert (notification.status, notification.attempts) == ("queued", 1)
    assert "mail server gone" in notification.failure_reason
    assert OutboxMessage.objects.filter(key="notification:order-cancelled:ORD-000042").exists()


# ---------------------------------------------------------------------- failures and the task


def test_a_failed_send_is_counted_kept_queued_and_raised(broken_mail_server):
    notification = recorded()

    with pytest.raises(smtplib.SMTPServerDisconnected):
        deliver(notification.idempotency_key)

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("queued", 1)
    assert notification.failure_reason == "SMTPServerDisconnected('mail server gone')"


def test_the_task_sends_once_however_often_it_runs(mailoutbox):
    notification = recorded()

    kwargs = {"idempotency_key": notification.idempotency_key}
    first = send_notification.apply(kwargs=kwargs)
    again = send_notification.apply(kwargs=kwargs)

    assert (first.result, again.result) == (True, False)
    assert len(mailoutbox) == 1


def test_the_task_retries_a_failed_send(settings, mailoutbox):
    settings.EMAIL_BACKEND = f"{__name__}.MailServerFailingOnce"
    MailServerFailingOnce.failures = 1
    notification = recorded()

    result = send_notification.apply(kwargs={"idempotency_key": notification.idempotency_key})

    assert result.result is True
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)
    assert len(mailoutbox) == 1


def test_the_task_marks_the_notification_failed_when_its_retries_run_out(broken_mail_server):
    notification = recorded()

    result = send_notification.apply(kwargs={"idempotency_key": notification.idempotency_key})

    assert result.failed()
    assert isinstance(result.result, smtplib.SMTPServerDisconnected)
    notification.refresh_from_db()
    assert notification.status == "failed"
    assert notification.attempts == 6  # the first try and max_retries=5 retries
    assert "mail server gone" in notification.failure_reason
    [failed] = FailedTask.objects.all()
    assert (failed.task, failed.kwargs) == (
        "notifications.tasks.send_notification",
        {"idempotency_key": "order-cancelled:ORD-000042"},
    )


def test_a_failed_notification_can_be_sent_again_under_a_new_outbox_key(mailoutbox):
    notification = recorded()
    Notification.objects.filter(pk=notification.pk).update(status="failed")

    assert send_again(notification.idempotency_key) is True
    assert send_again(notification.idempotency_key) is False  # queued again already: nothing to do

    notification.refresh_from_db()
    assert notification.status == "queued"
    keys = sorted(OutboxMessage.objects.values_list("key", flat=True))
    assert keys[0] == "notification:order-cancelled:ORD-000042"
    assert keys[1].startswith("notification:order-cancelled:ORD-000042:again-")
    resend = OutboxMessage.objects.get(key=keys[1])
    assert resend.kwargs == {"idempotency_key": "order-cancelled:ORD-000042"}
    assert send_notification.apply(kwargs=resend.kwargs).result is True
    assert len(mailoutbox) == 1


# ---------------------------------------------------------------------- admin


def test_the_admin_sends_failed_notifications_again(client, mailoutbox):
    client.force_login(StaffUserFactory())
    failed, sent = recorded(), notify(key="order-cancelled:ORD-000043")
    assert sent is not None
    Notification.objects.filter(pk=failed.pk).update(status="failed")
    Notification.objects.filter(pk=sent.pk).update(status="sent")

    response = client.post(
        "/admin/notifications/notification/",
        {"action": "send_failed_again", "_selected_action": [failed.pk, sent.pk]},
    )

    assert response.status_code == 302
    assert dict(Notification.objects.values_list("pk", "status")) == {
        failed.pk: "queued",
        sent.pk: "sent",
    }
    [resend] = OutboxMessage.objects.filter(key__contains=":again-")
    assert resend.key.startswith("notification:order-cancelled:ORD-000042:again-")
    assert resend.kwargs == {"idempotency_key": "order-cancelled:ORD-000042"}


def test_the_admin_lists_and_searches_notifications(client):
    client.force_login(StaffUserFactory())
    with trace.bound_trace_id(TRACE_ID):
        recorded()

    response = client.get("/admin/notifications/notification/", {"q": TRACE_ID})

    assert response.status_code == 200
    assert "order-cancelled:ORD-000042" in response.content.decode()


def test_sending_again_needs_its_own_permission(rf):
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    resender = User.objects.create_user("resender", is_staff=True)
    resender.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_notification", "resend_notification"])
    )
    model_admin = site._registry[Notification]

    def actions(user: User) -> set[str]:
        request = rf.get("/admin/notifications/notification/")
        request.user = User.objects.get(pk=user.pk)  # fresh permission cache
        return set(model_admin.get_actions(request))

    assert "send_failed_again" not in actions(viewer)
    assert "send_failed_again" in actions(resender)


# ---------------------------------------------------------------------- the two callers


def legacy_order(number: str | None = "ORD-000042") -> Order:
    customer = CustomerFactory(name="Ada", email="ada@example.com")
    order = Order.objects.create(
        number=number,
        customer=customer,
        shipping_name="Ada Lovelace",
        shipping_address="12 Analytical Row",
        total=Decimal("49.35"),
    )
    for sku, quantity, total in [("PALLET", 2, "37.00"), ("BOX-S", 1, "0.90")]:
        OrderLine.objects.create(
            order=order,
            product=ProductFactory(sku=sku),
            sku=sku,
            quantity=quantity,
            unit_price=Decimal(total) / quantity,
            line_total=Decimal(total),
        )
    return order


def test_the_legacy_mails_are_unchanged_and_sent_inline(mailoutbox, settings):
    order = legacy_order()
    mailer = LegacyMailer()

    mailer.notify_sales_team(order)
    mailer.send_confirmation(order)
    mailer.send_cancellation(order)

    assert [(mail.subject, mail.body, mail.to) for mail in mailoutbox] == [
        (
            "New order for ada@example.com",
            "A new order was placed by ada@example.com: total EUR 49.35.",
            [settings.SALES_TEAM_EMAIL],
        ),
        (
            "Your order ORD-000042",
            "Hello Ada Lovelace,\n\nthank you for your order ORD-000042.\n\n"
            "  2 x PALLET  EUR 37.00\n  1 x BOX-S  EUR 0.90\n\nTotal: EUR 49.35\n",
            ["ada@example.com"],
        ),
        (
            "Your order ORD-000042 has been cancelled",
            "Hello Ada Lovelace,\n\nyour order ORD-000042 has been cancelled.\n",
            ["ada@example.com"],
        ),
    ]
    assert set(Notification.objects.values_list("idempotency_key", "status")) == {
        ("sales-new-order:ORD-000042", "sent"),
        ("order-confirmation:ORD-000042", "sent"),
        ("order-cancelled:ORD-000042", "sent"),
    }


def test_the_legacy_mailer_mails_each_kind_once_per_order(mailoutbox):
    order = legacy_order()
    mailer = LegacyMailer()

    mailer.send_confirmation(order)
    mailer.send_confirmation(order)

    assert len(mailoutbox) == 1


def test_an_order_without_a_number_is_keyed_by_its_primary_key(mailoutbox):
    order = legacy_order(number=None)

    LegacyMailer().notify_sales_team(order)

    assert Notification.objects.get().idempotency_key == f"sales-new-order:{order.pk}"
    assert [mail.subject for mail in mailoutbox] == ["New order for ada@example.com"]


def test_the_legacy_mailer_takes_any_notifications_port():
    asked: list[tuple[str, str, dict[str, str], str]] = []

    class RecordingNotifications:
        def notify(
            self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
        ) -> None:
            asked.append((kind, recipient, dict(context), idempotency_key))

    LegacyMailer(RecordingNotifications()).send_cancellation(legacy_order())

    assert asked == [
        (
            "order_cancelled",
            "ada@example.com",
            {"order_number": "ORD-000042", "shipping_name": "Ada Lovelace"},
            "order-cancelled:ORD-000042",
        )
    ]


def test_the_logistics_notifier_queues_the_delivery_mail_for_a_worker(mailoutbox):
    EmailNotifier().notify(
        "shipment_delivered",
        "ada@example.com",
        {"order_ref": "ORD-000042", "tracking_number": "TN-7"},
        idempotency_key="shipment-1-delivered",
    )
    assert mailoutbox == []

    [message] = OutboxMessage.objects.all()
    send_notification.apply(kwargs=message.kwargs)

    [mail] = mailoutbox
    assert (mail.subject, mail.body) == (
        "Your order ORD-000042 has been delivered",
        "Hello,\n\nyour order ORD-000042 (tracking number TN-7) has been delivered.\n",
    )


def test_the_sweep_hands_over_again_only_notifications_no_message_asks_for(settings):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.tasks import sweep_queued_notifications

    settings.OWED_WORK_LEASE_SECONDS = 60
    stale = notify(key="order-cancelled:ORD-000001")
    owed = notify(key="order-cancelled:ORD-000002")
    fresh = notify(key="order-cancelled:ORD-000003")
    assert stale is not None and owed is not None and fresh is not None
    long_ago = timezone.now() - timedelta(minutes=2)
    Notification.objects.filter(pk__in=[stale.pk, owed.pk]).update(created_at=long_ago)
    # Its message was counted delivered (done) and the mail never went.
    OutboxMessage.objects.filter(key="notification:order-cancelled:ORD-000001").update(
        published_at=long_ago, done_at=long_ago
    )

    assert sweep_queued_notifications.apply().result == 1
    message = OutboxMessage.objects.get(key="notification:order-cancelled:ORD-000001")
    assert message.done_at is None and message.published_at is None  # owed again, to relay
    assert sweep_queued_notifications.apply().result == 0


def test_the_purge_deletes_only_sent_notifications_past_their_retention(settings):
    from datetime import timedelta

    from django.utils import timezone

    from notifications.tasks import purge_sent_notifications

    settings.NOTIFICATION_RETENTION_DAYS = 90
    old_sent, recent_sent, old_failed, old_queued = (
        notify(key=f"order-cancelled:ORD-00000{n}") for n in range(1, 5)
    )
    assert old_sent and recent_sent and old_failed and old_queued
    long_ago = timezone.now() - timedelta(days=91)
    Notification.objects.filter(pk=old_sent.pk).update(status="sent", sent_at=long_ago)
    Notification.objects.filter(pk=recent_sent.pk).update(
        status="sent", sent_at=timezone.now() - timedelta(days=89)
    )
    Notification.objects.filter(pk=old_failed.pk).update(status="failed", created_at=long_ago)
    Notification.objects.filter(pk=old_queued.pk).update(created_at=long_ago)

    assert purge_sent_notifications.apply().result == 1

    assert set(Notification.objects.values_list("pk", flat=True)) == {
        recent_sent.pk,
        old_failed.pk,
        old_queued.pk,
    }

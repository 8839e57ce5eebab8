"""The notification use cases: record a notification, deliver it, give up on it, send it again.

``NotificationService.notify`` records the notification and its outbox message in the caller's
``default`` transaction, so a notification exists if and only if the caller's data does, and a
worker (``notifications.tasks.send_notification``) sends it after the commit. With
``deliver_inline=True`` it sends the mail before returning instead (unless it was sent already,
as for a key recorded before), for the legacy pages whose mails must exist when the request
ends; only a send that fails there is handed to the worker (an outbox message then), and one
whose process died in between is found by ``sweep_queued_notifications``. The legacy path thus
costs the workers nothing when the mail server answers.

Recording is on the order intake's hot path (two notifications per order), so it costs one
INSERT each for the notification and its outbox message, no savepoints (it took seven
statements with ``get_or_create`` and its savepoints): both are ``INSERT ... ON CONFLICT DO
NOTHING``, on the notification's idempotency key and on the outbox key ``notification:<key>``,
in ``transaction.atomic(savepoint=False)``, which joins the caller's transaction or opens one
when there is none. A key recorded before is thus ignored twice over, and never sends twice
(should its outbox message be purged already, the new one finds the notification sent). Such
an INSERT returns no id, so the send task and ``deliver`` name a notification by its
idempotency key (unique, indexed). Without a savepoint, a database error while recording
would spoil the caller's whole transaction: everything is checked before the INSERTs.

Delivery is at least once: ``deliver`` locks the row while it sends, so two workers never send
the same notification twice, but a mail sent by a process that dies before its commit is sent
again, with the same Message-ID (``message_id``), so that it is the same message to whoever
reads it.

Imports ``outbox`` and ``observability``; never ``monolithos``, ``logistics`` or ``config``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta

import structlog
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from notifications.models import IDEMPOTENCY_KEY_MAX_LENGTH, RECIPIENT_MAX_LENGTH, Notification
from notifications.rendering import render_mail
from observability import trace
from outbox import completion
from outbox.messages import Message, outstanding_message, publish, publish_again

logger = structlog.get_logger(__name__)

SEND_TASK = "notifications.tasks.send_notification"


class NotificationService:
    """The ``Notifications`` port (and ``logistics.ports.Notifier``) over e-mail."""

    def __init__(self, *, deliver_inline: bool = False) -> None:
        self.deliver_inline = deliver_inline

    def notify(
        self, kind: str, recipient: str, context: Mapping[str, str], idempotency_key: str
    ) -> None:
        record_notification(
            kind=kind,
            recipient=recipient,
            context=context,
            idempotency_key=idempotency_key,
            hand_to_worker=not self.deliver_inline,
        )
        if not self.deliver_inline:
            return
        try:
            # Also for a key recorded before: deliver sends only what was not sent yet.
            deliver(idempotency_key)
        except Exception:
            # Handed to the worker, which retries it; the page still answers.
            logger.warning(
                "notification_left_to_the_worker", idempotency_key=idempotency_key, exc_info=True
            )
            publish(_send_message(idempotency_key, key=f"notification:{idempotency_key}"))


def record_notification(
    *,
    kind: str,
    recipient: str,
    context: Mapping[str, str],
    idempotency_key: str,
    hand_to_worker: bool = True,
) -> None:
    """Record the notification and its outbox message, unless the key was recorded before.

    Without ``hand_to_worker`` (inline delivery) no outbox message is recorded: the caller sends
    at once and hands the notification over only if that fails; one whose process died in
    between is found by the sweep of notifications queued too long.

    Two statements in the caller's transaction (no savepoint; a transaction of its own when
    there is none): one ``INSERT ... ON CONFLICT DO NOTHING`` each for the notification and its
    outbox message. A key recorded before keeps its first notification and message; the
    caller is not told (the INSERT returns nothing to tell by), and a send goes by the key.

    Raises ``ValueError`` for an unknown kind or an unusable context, recipient or key, before
    anything is stored: a notification that could never be rendered is never queued.
    """
    values = _checked_context(context)
    _check_recipient_and_key(recipient, idempotency_key)
    render_mail(kind, values)
    notification = Notification(
        kind=kind,
        recipient=recipient,
        context=values,
        idempotency_key=idempotency_key,
        trace_id=_current_trace_id(),
    )
    with transaction.atomic(savepoint=False):
        # ignore_conflicts: ON CONFLICT DO NOTHING on the unique idempotency key, no id returned.
        Notification.objects.bulk_create([notification], ignore_conflicts=True)
        if hand_to_worker:
            publish(_send_message(idempotency_key, key=f"notification:{idempotency_key}"))


def deliver(idempotency_key: str) -> bool:
    """Send the notification unless it was sent; True if this call sent it.

    A failed send is counted and its reason kept (the notification keeps its status), then the
    error is raised again for the caller to retry.
    """
    failure: Exception | None = None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().filter(idempotency_key=idempotency_key).first()
        )
        if notification is None:
            logger.warning("notification_not_found", idempotency_key=idempotency_key)
            return False
        if notification.status == Notification.Status.SENT:
            return False
        notification.attempts += 1
        try:
            _email(notification).send()
        except Exception as error:
            notification.failure_reason = repr(error)[:10_000]
            notification.save(update_fields=["attempts", "failure_reason"])
            failure = error
        else:
            notification.status = Notification.Status.SENT
            notification.sent_at = timezone.now()
            notification.save(update_fields=["attempts", "status", "sent_at"])
            # The outbox message that asked for this mail ends with it (docs/adr/0015).
            completion.done_in_this_transaction()
    # Raised outside the atomic block, so that the attempt above is committed, not rolled back.
    if failure is not None:
        raise failure
    return True


def mark_failed(idempotency_key: str, reason: str) -> None:
    """Give up on the notification (its retries ran out); one sent meanwhile stays sent."""
    unsent = Notification.objects.filter(idempotency_key=idempotency_key).exclude(
        status=Notification.Status.SENT
    )
    unsent.update(status=Notification.Status.FAILED, failure_reason=reason[:10_000])


def queued_for_too_long(limit: int) -> list[str]:
    """Keys of the notifications whose hand-over was lost, oldest first.

    Still queued OWED_WORK_LEASE_SECONDS after they were recorded, and asked for by no
    outstanding outbox message: their message is done (counted delivered before completion
    meant sent), or there never was one (an inline send whose process died before it).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.OWED_WORK_LEASE_SECONDS)
    queued = (
        Notification.objects.filter(status=Notification.Status.QUEUED, created_at__lt=cutoff)
        .annotate(key=Concat(Value("notification:"), F("idempotency_key")))
        .exclude(outstanding_message("key"))
    )
    return list(queued.order_by("id").values_list("idempotency_key", flat=True)[:limit])


def hand_over_again(idempotency_keys: list[str]) -> None:
    """Give the notifications back to the outbox, which follows each to its sending."""
    with transaction.atomic():
        for idempotency_key in idempotency_keys:
            publish_again(_send_message(idempotency_key, key=f"notification:{idempotency_key}"))


def purge_sent() -> int:
    """Delete the notifications sent more than NOTIFICATION_RETENTION_DAYS ago.

    Failed ones stay until someone sends them again from the admin; queued ones are still owed.
    """
    cutoff = timezone.now() - timedelta(days=settings.NOTIFICATION_RETENTION_DAYS)
    deleted, _ = Notification.objects.filter(
        status=Notification.Status.SENT, sent_at__lt=cutoff
    ).delete()
    return deleted


def send_again(idempotency_key: str) -> bool:
    """Queue a failed notification again, with a new outbox message; False if it had not failed."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(idempotency_key=idempotency_key, status=Notification.Status.FAILED)
            .first()
        )
        if notification is None:
            return False
        notification.status = Notification.Status.QUEUED
        notification.save(update_fields=["status"])
        # The first message's key is taken (and may still be in the outbox): a resend needs its own.
        key = f"notification:{idempotency_key}:again-{secrets.token_hex(4)}"
        publish(_send_message(idempotency_key, key=key))
    return True


def _send_message(idempotency_key: str, *, key: str) -> Message:
    return Message(task=SEND_TASK, key=key, kwargs={"idempotency_key": idempotency_key})


def _email(notification: Notification) -> EmailMultiAlternatives:
    mail = render_mail(notification.kind, notification.context)
    headers = {"Message-ID": message_id(notification)}
    if notification.trace_id:
        headers[trace.REQUEST_ID_HEADER] = notification.trace_id
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=mail.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers=headers,
    )
    message.attach_alternative(mail.html, "text/html")
    return message


def message_id(notification: Notification) -> str:
    """The notification's own Message-ID, the same at every send.

    Delivery is at least once: a worker killed after the mail server took a mail and before the
    commit that marks it sent sends it again. Sent again, it is the same message to the mail
    servers and clients that recognise one by its Message-ID (RFC 5322, 3.6.4), not a second.
    """
    digest = hashlib.sha256(f"{notification.pk}:{notification.idempotency_key}".encode())
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "monolithos.invalid"
    return f"<{digest.hexdigest()[:32]}@{domain}>"


def _current_trace_id() -> str:
    # Only a well-formed id goes into a mail header (and fits the column).
    trace_id = trace.current_trace_id()
    return trace_id if trace_id and trace.is_trace_id(trace_id) else ""


def _checked_context(context: Mapping[str, str]) -> dict[str, str]:
    values = dict(context)
    not_strings = sorted(
        str(name)
        for name, value in values.items()
        if not isinstance(name, str) or not isinstance(value, str)
    )
    if not_strings:
        # Stored as JSON and rendered later: only preformatted strings survive the trip as is.
        raise ValueError(f"notification context values must be strings: {', '.join(not_strings)}")
    return values


def _check_recipient_and_key(recipient: str, idempotency_key: str) -> None:
    # Checked here, not by the database: a failed INSERT would spoil the caller's transaction.
    if (
        not recipient.strip()
        or "\n" in recipient
        or "\r" in recipient
        or len(recipient) > RECIPIENT_MAX_LENGTH
    ):
        raise ValueError(f"not a recipient: {recipient!r}")
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValueError(
            f"an idempotency key has 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters: "
            f"{idempotency_key!r}"
        )

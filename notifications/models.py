"""The notification record: what was asked to be sent, to whom, and whether it went.

One row per idempotency key, so a caller that runs twice (a retried task, a double click)
records one notification and sends one mail. The key (unique, so indexed) is also how the send
task finds its notification: it is recorded with ``INSERT ... ON CONFLICT DO NOTHING``, which
returns no id. Imports only Django.
"""

from __future__ import annotations

from django.db import models

# The outbox key is ``notification:<idempotency key>`` plus, for a resend, a short suffix: the
# idempotency key is capped so that the whole key fits OutboxMessage.key (200 characters).
IDEMPOTENCY_KEY_MAX_LENGTH = 150
# The longest address a mail server takes (RFC 5321's forward path).
RECIPIENT_MAX_LENGTH = 254


class Notification(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=50)
    recipient = models.CharField(max_length=RECIPIENT_MAX_LENGTH)
    context = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=IDEMPOTENCY_KEY_MAX_LENGTH, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True, default="")
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="notification_status")]
        permissions = [("resend_notification", "Can send a failed notification again")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.idempotency_key})"

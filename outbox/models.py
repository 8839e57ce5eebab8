"""Outbox messages, task deliveries in progress, and tasks that failed for good.

The message table lives on every database alias whose writers publish, so that a message is
recorded in the transaction of the change it announces (docs/adr/0021): the project's router
says which (``message_aliases``). Deliveries and failed tasks live on ``default`` only.
"""

from __future__ import annotations

from django.db import connections, models, router

# Owed: not done, and not given up on (a person decides then, from the failed-task table).
OWED = models.Q(done_at__isnull=True, failed_at__isnull=True)


class OutboxMessage(models.Model):
    """A Celery task to run once the writer's transaction has committed, owed until it has run.

    ``key`` makes the writer idempotent: publishing the same key twice records one message.
    Handing the task to the broker does not end the message; the task's completion does
    (docs/adr/0015-completion-ends-a-message.md): ``done_at`` is set when the task it names has
    returned after committing its effect. Until then the sweep hands it to the broker again
    whenever ``lease_expires_at`` passes and the broker cannot still hold it, each time with a
    lease twice as long, ``OUTBOX_MAX_PUBLICATIONS`` times at most (then ``failed_at``).
    """

    key = models.CharField(max_length=200, unique=True)
    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Hand-overs tried, and those the broker accepted (the lease's backoff counts these).
    attempts = models.PositiveIntegerField(default=0)
    publications = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            ),
            # The sweep's scan: published, owed, lease running out.
            models.Index(
                fields=["lease_expires_at"],
                name="outbox_owed_published",
                condition=OWED & models.Q(published_at__isnull=False),
            ),
            # The owed-work gauges and the retention purge.
            models.Index(fields=["task", "created_at"], name="outbox_owed", condition=OWED),
            models.Index(fields=["done_at"], name="outbox_done"),
        ]

    def __str__(self) -> str:
        return self.key


def message_aliases() -> list[str]:
    """The database aliases that hold a message table, ``default`` first."""
    aliases = [alias for alias in connections if router.allow_migrate_model(alias, OutboxMessage)]
    return sorted(aliases, key=lambda alias: alias != "default")


class TaskDelivery(models.Model):
    """A task run that has started and not yet returned: what the redelivery cap counts.

    A run that returns (success, retry or failure) deletes its row; a worker killed mid-task
    leaves it, and the next delivery of the same message finds it and counts one more.
    """

    task_id = models.CharField(max_length=255, primary_key=True)
    task = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.task} {self.task_id} ({self.deliveries})"


class FailedTask(models.Model):
    """A task that will not run again by itself: retries exhausted, redelivered too often, or
    handed to the broker ``OUTBOX_MAX_PUBLICATIONS`` times without ever running to its end."""

    REASONS = [
        ("failed", "Failed after its retries"),
        ("redelivered", "Worker lost too often"),
        ("unfinished", "Published too often without finishing"),
    ]

    task_id = models.CharField(max_length=255, unique=True)
    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    reason = models.CharField(max_length=20, choices=REASONS)
    error = models.TextField(blank=True, default="")
    deliveries = models.PositiveIntegerField(default=1)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    failed_at = models.DateTimeField(auto_now_add=True)
    requeued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("requeue_failedtask", "Can run a failed task again")]

    def __str__(self) -> str:
        return f"{self.task} {self.task_id}"

"""Outbox messages, task deliveries in progress, and tasks that failed for good."""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A Celery task to run once the writer's transaction has committed.

    ``key`` makes the writer idempotent: publishing the same key twice records one message.
    """

    key = models.CharField(max_length=200, unique=True)
    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    trace_id = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.key


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
    """A task that will not run again by itself: retries exhausted, or redelivered too often."""

    REASONS = [("failed", "Failed after its retries"), ("redelivered", "Worker lost too often")]

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

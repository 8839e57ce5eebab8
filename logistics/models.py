"""Persistence of the logistics context: one table, on the ``logistics`` database alias.

The ORM model is an adapter detail: services never see it; ``logistics.adapters.orm`` maps it to
and from the domain's ``Shipment``. A shipment refers to its order by an opaque ``order_ref``:
no foreign key crosses into the legacy database.
"""

from __future__ import annotations

import uuid

from django.db import models

from logistics.domain import ShipmentStatus


class ShipmentRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_ref = models.CharField(max_length=64, unique=True)
    destination = models.TextField()
    items = models.JSONField()
    status = models.CharField(
        max_length=16,
        choices=[(status.value, status.name.title()) for status in ShipmentStatus],
        default=ShipmentStatus.PENDING.value,
    )
    # Optimistic concurrency: every write is conditional on the version it read, and bumps it.
    version = models.PositiveIntegerField(default=1)
    owner_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    contact_email = models.EmailField(blank=True, default="")
    supplier_reference = models.CharField(max_length=64, blank=True, default="")
    tracking_number = models.CharField(max_length=64, blank=True, default="")
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The supplier accepted a dispatch after the shipment was cancelled: staff must act.
    needs_attention = models.BooleanField(default=False)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The lease of its dispatch task (docs/adr/0019): while a task for it is queued, waiting for
    # its retry or running, no sweep hands it over again before this time. Not the shipment's
    # state: the domain never sees it and a save never writes it.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When a dispatch task for it was last handed to the broker (its creation's, if none since):
    # a sweep leaves it alone while the broker's queue may still hold that task.
    handed_over_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "logistics_shipment"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="shipment_due_idx"),
            models.Index(fields=["-created_at", "-id"], name="shipment_recent_idx"),
            # A handful of rows among millions, counted on every scrape of /metrics.
            models.Index(
                fields=["needs_attention"],
                condition=models.Q(needs_attention=True),
                name="shipment_attention_idx",
            ),
        ]
        permissions = [("manage_shipments", "Can dispatch and cancel shipments through the API")]

    def __str__(self) -> str:
        return f"shipment for {self.order_ref} ({self.status})"

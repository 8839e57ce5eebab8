"""What the strangler stores: route modes, the kill switch, the data ownership phase, the audit
of changes, mismatches and the parity job's runs.

Modes, the kill switch and the phase are written only by ``strangler.services`` (every change
audited in the same transaction); shadow and verify mismatches by the result publisher, and
deleted after STRANGLER_MISMATCH_RETENTION_DAYS by ``strangler.tasks.purge_mismatches``; parity
runs by ``strangler.services.run_parity``; traffic counts per route and minute by
``strangler.traffic``.
"""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from strangler.modes import FULL, Mode, describe
from strangler.phases import Phase

MODE_CHOICES = [(mode.value, mode.value) for mode in Mode]
PHASE_CHOICES = [(phase.value, phase.value) for phase in Phase]


def new_salt() -> str:
    return secrets.token_hex(8)


class RouteMode(models.Model):
    """One strangled route's mode; ``basis_points`` is the canary's share (10,000 = 100 %),
    ``sample_points`` the share of routing keys a shadow compares (100 % outside shadow)."""

    route = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=10, choices=MODE_CHOICES, default=Mode.LEGACY.value)
    basis_points = models.PositiveIntegerField(
        "canary share (0.01 %)", default=0, validators=[MaxValueValidator(FULL)]
    )
    sample_points = models.PositiveIntegerField(
        "shadow sample (0.01 %)",
        default=FULL,
        validators=[MinValueValidator(1), MaxValueValidator(FULL)],
    )
    salt = models.CharField(
        max_length=32,
        default=new_salt,
        help_text="Hashed with each routing key: changing it reshuffles who is in the canary "
        "and in the shadow's sample.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["route"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(basis_points__lte=FULL), name="strangler_percent_at_most_100"
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=[mode.value for mode in Mode]),
                name="strangler_known_mode",
            ),
            models.CheckConstraint(
                condition=models.Q(sample_points__gte=1, sample_points__lte=FULL),
                name="strangler_sample_above_0_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.route}: {self.describe()}"

    def describe(self) -> str:
        return describe(self.mode, self.basis_points, self.sample_points)


class StranglerState(models.Model):
    """The one row (pk 1) holding the state's version, the kill switch and the data phase.

    ``version`` grows with every change of any route, of the switch or of the phase; processes
    compare it with the version of their in-process copy. ``changed_at``, ``changed_by`` and
    ``reason`` are the kill switch's; the phase's changes are in the audit trail.
    """

    version = models.PositiveBigIntegerField(default=1)
    killed = models.BooleanField("kill switch engaged", default=False)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    phase = models.CharField(
        "data ownership phase",
        max_length=10,
        choices=PHASE_CHOICES,
        default=Phase.LEGACY.value,
    )

    class Meta:
        verbose_name = "kill switch and data phase"
        verbose_name_plural = "kill switch and data phase"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(phase__in=[phase.value for phase in Phase]),
                name="strangler_known_phase",
            ),
        ]

    def __str__(self) -> str:
        return "engaged: every route on legacy" if self.killed else "lifted"


class ModeChange(models.Model):
    """The audit trail: who changed what, when, from what to what, and why.

    ``forced``: a phase change made with ``--force`` although preconditions did not hold;
    ``overridden`` lists them, each with what it risked.
    """

    KILL_SWITCH = "*"
    DATA_PHASE = "*phase"

    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    via = models.CharField(max_length=20)  # admin, command, api, panel
    route = models.CharField(max_length=100, db_index=True)  # "*": the kill switch
    from_mode = models.CharField(max_length=10)
    from_basis_points = models.PositiveIntegerField(default=0)
    to_mode = models.CharField(max_length=10)
    to_basis_points = models.PositiveIntegerField(default=0)
    from_sample_points = models.PositiveIntegerField(default=FULL)
    to_sample_points = models.PositiveIntegerField(default=FULL)
    reason = models.TextField()
    version = models.PositiveBigIntegerField()
    forced = models.BooleanField(default=False)
    overridden = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.route}: {self.change()} by {self.actor}"

    def change(self) -> str:
        before = describe(self.from_mode, self.from_basis_points, self.from_sample_points)
        return f"{before} -> {describe(self.to_mode, self.to_basis_points, self.to_sample_points)}"


class ShadowMismatch(models.Model):
    """A shadow comparison that did not agree (or whose candidate failed), kept for a while.

    A read of the moved data in the ``verify`` phase that disagreed is stored here too, under
    the route ``ModeChange.DATA_PHASE``, its reader in ``context``.
    """

    MISMATCH = "mismatch"
    ERROR = "error"
    OUTCOMES = [(MISMATCH, MISMATCH), (ERROR, ERROR)]

    created_at = models.DateTimeField(db_index=True)
    route = models.CharField(max_length=100)
    outcome = models.CharField(max_length=10, choices=OUTCOMES, default=MISMATCH)
    routing_key = models.CharField(max_length=255, blank=True)
    control = models.JSONField()
    candidate = models.JSONField(null=True)
    diff = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    context = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["route", "-created_at"])]
        verbose_name_plural = "shadow mismatches"

    def __str__(self) -> str:
        return f"{self.route} {self.outcome} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class ParityRun(models.Model):
    """One pass of the parity job: every row of the moved data, legacy copy against new owner.

    ``checked`` rows compared, ``mismatched`` whose two copies disagree, ``missing`` without a
    row at the new owner (the backfill is incomplete); ``examples``: the first disagreements,
    as people read them. ``phase``: the phase the run started in.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    phase = models.CharField(max_length=10, choices=PHASE_CHOICES)
    checked = models.PositiveIntegerField()
    mismatched = models.PositiveIntegerField()
    missing = models.PositiveIntegerField()
    examples = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]

    def __str__(self) -> str:
        return (
            f"parity at {self.finished_at:%Y-%m-%d %H:%M:%S}: {self.checked} checked, "
            f"{self.mismatched} mismatched, {self.missing} missing"
        )

    @property
    def is_clean(self) -> bool:
        return self.mismatched == 0 and self.missing == 0


class TrafficMinute(models.Model):
    """Requests one strangled route served in one minute: by each side, and the shadow
    comparisons run beside them (``compared``: match, mismatch or error; ``mismatched``: the
    mismatches and errors among them).

    Written only by ``strangler.traffic`` (counted in each process, added here by F()
    increments every STRANGLER_TRAFFIC_FLUSH_SECONDS); deleted after
    STRANGLER_TRAFFIC_RETENTION_HOURS by ``strangler.tasks.purge_traffic``.
    """

    route = models.CharField(max_length=100)
    minute = models.DateTimeField()  # the minute's start, UTC
    legacy = models.PositiveBigIntegerField(default=0)
    new = models.PositiveBigIntegerField(default=0)
    compared = models.PositiveBigIntegerField(default=0)
    mismatched = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["route", "minute"]
        constraints = [
            models.UniqueConstraint(fields=["route", "minute"], name="strangler_traffic_minute"),
        ]
        indexes = [models.Index(fields=["minute"])]

    def __str__(self) -> str:
        return f"{self.route} {self.minute:%Y-%m-%d %H:%M}: {self.legacy} legacy, {self.new} new"

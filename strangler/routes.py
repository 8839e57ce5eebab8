"""A strangled route: its name, what kind of work it does, its routing key and its comparator.

The root URLconf declares one ``Route`` per strangled URL and mounts it with
``strangler.urls.strangled_path``, naming both handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from strangler import errors
from strangler.comparison import Comparator
from strangler.keys import RoutingKey
from strangler.modes import Mode

ErrorResponse = Callable[[HttpRequest], HttpResponse]


class Kind(StrEnum):
    READ = "read"
    """Candidates run as they are, beside the control, on the shadow pool."""
    WRITE = "write"
    """Candidates run first, in a transaction rolled back, with side effects refused."""


@dataclass(frozen=True)
class Route:
    """``fallback_to_legacy``: a read whose new handler raises is answered by legacy instead.

    ``modes``: the modes the route may be put in. ``budget_seconds``: the shadow candidate's
    time budget (None: STRANGLER_SHADOW_BUDGET_SECONDS). ``error``: the answer when the new
    handler raises and nothing falls back, in the route's own error format.
    ``legacy_reads_columns``: its legacy handler reads the legacy copy of the moved data itself,
    not through the database router; the data phase cannot step to ``contract`` (the copy no
    longer written) while the route serves any request on legacy (``strangler.preconditions``).
    """

    name: str
    kind: Kind
    key: RoutingKey
    comparator: Comparator = field(default_factory=Comparator)
    modes: frozenset[Mode] = frozenset(Mode)
    fallback_to_legacy: bool = False
    budget_seconds: float | None = None
    error: ErrorResponse = errors.json_error
    legacy_reads_columns: bool = False

    def __post_init__(self) -> None:
        if self.fallback_to_legacy and self.kind is Kind.WRITE:
            raise ImproperlyConfigured(
                f"route {self.name}: a write never falls back to legacy (it could run twice)"
            )
        if Mode.LEGACY not in self.modes:
            raise ImproperlyConfigured(f"route {self.name}: every route supports legacy")

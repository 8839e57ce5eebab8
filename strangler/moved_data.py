"""What the strangler asks of the data whose ownership phases it keeps: the app's side of it.

The strangler imports no app, so the app that owns the legacy copy gives it, by dotted path in
STRANGLER_MOVED_DATA (as LOGISTICS_SHIPMENT_LISTENERS does for the logistics context), an
object with the three operations below; ``moved_data()`` builds it once per path.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string


class ParityFigures(Protocol):
    """What one parity pass found (``examples``: the first disagreements, as people read them)."""

    @property
    def checked(self) -> int: ...

    @property
    def mismatched(self) -> int: ...

    @property
    def missing(self) -> int: ...

    @property
    def examples(self) -> Sequence[str]: ...


class MovedData(Protocol):
    def check_parity(self) -> ParityFigures:
        """Compare every row's legacy copy with its new owner (the parity job)."""

    def restore_needed(self) -> str | None:
        """What must happen before the legacy copy can be written or read again (its columns
        were dropped), said to an operator; None when they are there."""

    def refill_copy(self) -> int:
        """Write the new owner's data onto the legacy copy where the copy is behind (after a
        phase in which it was not written); the number of rows written."""


@cache
def _build(path: str) -> MovedData:
    return cast(MovedData, import_string(path)())


def moved_data() -> MovedData:
    """The object named in STRANGLER_MOVED_DATA."""
    return _build(settings.STRANGLER_MOVED_DATA)

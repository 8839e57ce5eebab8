"""The broker's readiness, as the outbox sees it: reachable, or degraded with what is owed.

Registered as ``/readyz``'s ``broker`` check (``outbox.apps``). A broker that does not answer
does not make a web process unready: requests still commit their work, and the sweeps hand it
over once the broker answers (docs/adr/0015). The check says so, and what is owed meanwhile.
"""

from __future__ import annotations

from django.utils import timezone

from observability.health import Degraded
from outbox import broker, owed


def broker_readiness() -> str | None:
    """None when the broker answers and nothing is owed past its lease; else what is owed."""
    now = timezone.now()
    try:
        # The database's own checks report the database: this one never fails on it.
        owed_now: dict[str, owed.Owed] | None = owed.everything(now)
    except Exception:
        owed_now = None
    what = "what is owed cannot be read" if owed_now is None else owed.summary(owed_now, now)
    try:
        broker.ping()
    except broker.BrokerUnavailable:
        down = broker.broker_state.down_for() or 0.0
        raise Degraded(
            f"unreachable for {down:.0f} s ({broker.broker_state.last_error or 'no answer'}): "
            f"{what}; requests are still accepted and the sweeps hand the work over once it "
            f"answers"
        ) from None
    if owed_now and any(item.past_lease for item in owed_now.values()):
        return what
    return None

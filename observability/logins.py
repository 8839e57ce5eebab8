"""Failed and locked-out logins, counted from the signals Django and django-axes send.

django-axes records each failure and locks a username out of an address (settings ``AXES_*``);
these receivers only count, so that a brute-force attempt shows on the dashboard and in alerts,
not only in the admin's Access attempts. Connected in ``ObservabilityConfig.ready``.
"""

from __future__ import annotations

from typing import Any

import structlog
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from observability.metrics import LOGIN_FAILURES, LOGIN_LOCKOUTS

logger = structlog.get_logger(__name__)


@receiver(user_login_failed, dispatch_uid="observability.count_login_failure")
def count_login_failure(sender: Any, **_: Any) -> None:
    LOGIN_FAILURES.inc()


@receiver(user_locked_out, dispatch_uid="observability.count_lockout")
def count_lockout(sender: Any, *, ip_address: str | None = None, **_: Any) -> None:
    LOGIN_LOCKOUTS.inc()
    # The address, never the username tried (it may be a mistyped password).
    logger.warning("login_locked_out", ip_address=ip_address)

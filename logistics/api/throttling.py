"""DRF's user and anonymous throttles, reading their rate when a request comes in.

DRF copies ``DEFAULT_THROTTLE_RATES`` into a class attribute at import, so a changed setting
(``override_settings``, a test's tiny rate) would never reach it; these read ``api_settings``,
which DRF reloads whenever the settings change. The rates come from API_THROTTLE_USER/_ANON.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings


def _current_rate(scope: str | None) -> str | None:
    try:
        rate = api_settings.DEFAULT_THROTTLE_RATES[scope or ""]
    except KeyError:
        raise ImproperlyConfigured(f"no DEFAULT_THROTTLE_RATES entry for {scope!r}") from None
    return None if rate is None else str(rate)


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self) -> str | None:
        return _current_rate(self.scope)


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self) -> str | None:
        return _current_rate(self.scope)

"""Filters of the ops panel's template: the JSON's ISO timestamps as people read them."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def moment(value: str | None) -> str:
    """``2026-12-04T01:45:03.541334+00:00`` -> ``2026-12-04 01:45:03 UTC``."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{parsed.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"

from __future__ import annotations

from django.db import models


class Accepted(models.Model):
    """One accepted request: the body as it came, and when."""

    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared: the app is installed by bench.settings_floor only, not where mypy looks.
    objects: models.Manager[Accepted] = models.Manager()

    def __str__(self) -> str:
        return f"accepted #{self.pk}"

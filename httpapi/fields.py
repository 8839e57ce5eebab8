"""Input fields that take JSON as it is typed: no coercion, only storable text.

DRF's ``IntegerField`` takes ``"3"`` and ``1.0`` for 3, and its ``CharField`` takes ``42`` for
``"42"``; the schema says integer and string, so these refuse anything else. Text follows
``httpapi.text`` (DRF's own validators already refuse NUL and lone surrogates); its pattern is
printed in the schema.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.validators import RegexValidator
from rest_framework import serializers

from httpapi import text

# The single-line rule as the schema prints it (ECMA-262), for a parameter described by hand.
PRINTABLE = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def _printable(*, multi_line: bool) -> RegexValidator:
    return RegexValidator(
        text.MULTI_LINE if multi_line else text.SINGLE_LINE,
        "Must not contain control characters.",
    )


class StrictCharField(serializers.CharField):
    """A JSON string, and only a string, of storable text (multi-line keeps tab and newlines)."""

    default_error_messages: ClassVar[dict[str, Any]] = {"invalid": "Must be a string."}

    def __init__(self, *, multi_line: bool = False, **kwargs: Any) -> None:
        # Said in the schema: a field that may not be blank holds at least one character.
        if not kwargs.get("allow_blank", False):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)
        self.validators.append(_printable(multi_line=multi_line))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    """A JSON string holding an email address (Django's validator lets a quoted local part hold
    control characters; this does not); nothing coerced."""

    default_error_messages: ClassVar[dict[str, Any]] = {"invalid": "Enter a valid email address."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(_printable(multi_line=False))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: ``3``, never ``"3"``, ``3.0`` or ``true``."""

    default_error_messages: ClassVar[dict[str, Any]] = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)

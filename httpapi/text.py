"""What text any field of ours may hold: the one rule of every entry point, legacy or new.

Refused: NUL (PostgreSQL cannot store it: a 500), other control characters (C0, DEL and C1: a
terminal escape in a log line or on a shipping label) and lone surrogates (not encodable as
UTF-8: a 500 at the database). Multi-line text (an address) keeps tab, line feed and carriage
return. The patterns are printed in the OpenAPI schema, so generated clients refuse the same.
"""

from __future__ import annotations

import re

SINGLE_LINE = re.compile(r"\A[^\x00-\x1f\x7f-\x9f]*\Z")
MULTI_LINE = re.compile(r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*\Z")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str, *, multi_line: bool = False) -> str | None:
    """Why ``value`` cannot be stored, as the end of a sentence ("... must not ..."), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if not (MULTI_LINE if multi_line else SINGLE_LINE).match(value):
        return "must not contain control characters"
    if _SURROGATE.search(value):
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None

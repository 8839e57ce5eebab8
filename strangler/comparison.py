"""Comparing two answers: observations, normalizers, volatile fields and declared differences.

An ``Observation`` is what the comparison sees of a response: its status, a few headers and its
body (parsed JSON, text, or nothing for a file). A route's ``Comparator`` cleans both sides (its
normalizers, then the volatile fields it never compares), diffs them part by part (``http_status``,
each header, each top-level body field, or ``body`` as a whole) and then lifts the differences
that a ``Declared`` rule of the route accepts: the ones the new handler has on purpose (an order
answered before its shipment is dispatched), listed in the runbook's deprecation table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.http import HttpResponseBase, StreamingHttpResponse

STATUS = "http_status"
BODY = "body"
MAX_TEXT = 20_000
"""Longest body text kept in an observation (and so in a stored mismatch)."""


@dataclass(frozen=True)
class Observation:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": dict(self.headers), "body": self.body}


Normalizer = Callable[[Observation], Observation]


def observe(response: HttpResponseBase, headers: tuple[str, ...]) -> Observation:
    """What a comparison sees of ``response``, without consuming a streamed body."""
    kept = {name: response[name] for name in headers if response.has_header(name)}
    body: Any = None
    if not isinstance(response, StreamingHttpResponse) and hasattr(response, "content"):
        content: bytes = response.content
        content_type = response.get("Content-Type", "")
        if "json" in content_type:
            try:
                body = json.loads(content)
            except ValueError:
                body = content.decode(errors="replace")[:MAX_TEXT]
        elif content_type.startswith("text/"):
            body = content.decode(errors="replace")[:MAX_TEXT]
        elif content:
            body = f"<{len(content)} bytes>"
    return Observation(status=response.status_code, headers=kept, body=body)


# ---------------------------------------------------------------------- normalizers

_CSRF_INPUT = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_NUMBER = re.compile(r"\d+")


def without_csrf_tokens(observation: Observation) -> Observation:
    """HTML forms carry a fresh CSRF token on every render."""
    if not isinstance(observation.body, str):
        return observation
    return replace(observation, body=_CSRF_INPUT.sub(r"\1…\2", observation.body))


def numbers_masked_in(header: str) -> Normalizer:
    """A header whose numbers are ids that differ between two writes (``Location``)."""

    def normalize(observation: Observation) -> Observation:
        if header not in observation.headers:
            return observation
        headers = dict(observation.headers)
        headers[header] = _NUMBER.sub("<n>", headers[header])
        return replace(observation, headers=headers)

    return normalize


# ---------------------------------------------------------------------- declared differences


@dataclass(frozen=True)
class Declared:
    """A difference a route's new handler has on purpose.

    It applies when the control answered one of ``control_status`` (None: any), the candidate
    one of ``candidate_status``, and each of ``candidate_values``' body fields holds one of its
    values in the candidate's body; then the ``parts`` it names are not compared:
    ``http_status``, ``header.<Name>``, ``body.<field>``, or ``body`` for the whole body.
    """

    name: str
    description: str
    parts: frozenset[str]
    control_status: frozenset[int] | None = None
    candidate_status: frozenset[int] | None = None
    candidate_values: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def applies(self, control: Observation, candidate: Observation) -> bool:
        if self.control_status is not None and control.status not in self.control_status:
            return False
        if self.candidate_status is not None and candidate.status not in self.candidate_status:
            return False
        if self.candidate_values:
            if not isinstance(candidate.body, dict):
                return False
            for name, values in self.candidate_values.items():
                if name not in candidate.body or candidate.body[name] not in values:
                    return False
        return True


def declared(
    name: str,
    description: str,
    *,
    parts: tuple[str, ...],
    control_status: tuple[int, ...] | None = None,
    candidate_status: tuple[int, ...] | None = None,
    candidate_values: Mapping[str, tuple[Any, ...]] | None = None,
) -> Declared:
    return Declared(
        name=name,
        description=description,
        parts=frozenset(parts),
        control_status=None if control_status is None else frozenset(control_status),
        candidate_status=None if candidate_status is None else frozenset(candidate_status),
        candidate_values=dict(candidate_values or {}),
    )


# ---------------------------------------------------------------------- the comparator


@dataclass(frozen=True)
class Comparison:
    """``diff``: part -> [control, candidate] of what still differs; ``declared``: rules used."""

    diff: dict[str, list[Any]]
    declared: tuple[str, ...] = ()

    @property
    def matched(self) -> bool:
        return not self.diff


@dataclass(frozen=True)
class Comparator:
    """How one route's answers are compared (Scientist's ``clean``, ``compare`` and ``ignore``).

    ``volatile``: body fields never compared (ids of rows written twice). ``unknowable``: parts
    (``body.<field>``) whose difference is ignored when either side holds one of the given
    values (the supplier's status is ``unknown`` whenever one of two calls failed).
    """

    headers: tuple[str, ...] = ("Content-Type",)
    normalizers: tuple[Normalizer, ...] = ()
    volatile: frozenset[str] = frozenset()
    unknowable: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    declared: tuple[Declared, ...] = ()

    def clean(self, observation: Observation) -> Observation:
        for normalize in self.normalizers:
            observation = normalize(observation)
        if isinstance(observation.body, dict) and self.volatile:
            body = {k: v for k, v in observation.body.items() if k not in self.volatile}
            observation = replace(observation, body=body)
        return observation

    def compare(self, control: Observation, candidate: Observation) -> Comparison:
        """Compare two clean observations."""
        diff = _parts(control, candidate)
        for name, values in self.unknowable.items():
            if name in diff and any(side in values for side in diff[name]):
                del diff[name]
        used = []
        for rule in self.declared:
            if diff and rule.applies(control, candidate):
                covered = {
                    part
                    for part in diff
                    if part in rule.parts or (BODY in rule.parts and part.startswith("body."))
                }
                if covered:
                    used.append(rule.name)
                    for part in covered:
                        del diff[part]
        return Comparison(diff=diff, declared=tuple(used))


def _parts(control: Observation, candidate: Observation) -> dict[str, list[Any]]:
    diff: dict[str, list[Any]] = {}
    if control.status != candidate.status:
        diff[STATUS] = [control.status, candidate.status]
    for name in sorted(set(control.headers) | set(candidate.headers)):
        ours, theirs = control.headers.get(name), candidate.headers.get(name)
        if ours != theirs:
            diff[f"header.{name}"] = [ours, theirs]
    if isinstance(control.body, dict) and isinstance(candidate.body, dict):
        for name in sorted(set(control.body) | set(candidate.body)):
            ours, theirs = control.body.get(name), candidate.body.get(name)
            if ours != theirs:
                diff[f"body.{name}"] = [ours, theirs]
    elif control.body != candidate.body:
        diff[BODY] = [control.body, candidate.body]
    return diff

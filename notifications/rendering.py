"""Render a notification kind into a mail: subject, plain text and HTML, from templates.

Each kind is a folder ``templates/notifications/<kind>/`` holding ``subject.txt``, ``body.txt``
and ``body.html``. A kind without its three templates does not exist. The templates are read by
an engine of their own rather than the project's: no other app's template can shadow them, and
a variable missing from the context is an error here instead of an empty string in a customer's
mail. Imports only Django.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# What the engine writes for an undefined variable: NUL bytes never occur in a real context.
_MISSING = "\x00missing:%s\x00"
_MISSING_NAME = re.compile(r"\x00missing:(.*?)\x00")

_engine = Engine(dirs=[str(TEMPLATES_DIR)], string_if_invalid=_MISSING)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render_mail(kind: str, context: Mapping[str, str]) -> RenderedMail:
    """The mail of ``kind`` for ``context``; ``ValueError`` if either is not usable."""
    if not _KIND.match(kind):
        raise ValueError(f"unknown notification kind {kind!r}")
    try:
        subject, text, html = (
            _engine.get_template(f"notifications/{kind}/{name}")
            for name in ("subject.txt", "body.txt", "body.html")
        )
    except TemplateDoesNotExist as error:
        raise ValueError(
            f"unknown notification kind {kind!r}: no template {error.args[0]!r}"
        ) from error
    except TemplateSyntaxError as error:
        raise ValueError(f"broken template for notification kind {kind!r}: {error}") from error
    values = Context(dict(context))
    mail = RenderedMail(
        # A subject is one header line; the template file's own newline is not part of it.
        subject=subject.render(values).strip(),
        # Template files end with a newline like any text file; as in Jinja, that final newline
        # is not part of the output, so a body ending in a newline has an empty last line.
        text=text.render(values).removesuffix("\n"),
        html=html.render(values),
    )
    missing = sorted(set(_MISSING_NAME.findall(mail.subject + mail.text + mail.html)))
    if missing:
        raise ValueError(f"notification {kind!r} needs context {', '.join(missing)}")
    if "\n" in mail.subject or "\r" in mail.subject:
        raise ValueError(f"notification {kind!r}: the subject must be one line")
    return mail

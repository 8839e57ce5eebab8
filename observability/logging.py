"""Structured logging for every process: web, management commands and workers.

One processor chain serves structlog's own loggers and the standard library's (Django, Celery,
gunicorn), so every line carries the bound context (``trace_id`` first of all) and passes the
same masking. The renderer is JSON in production and a readable console format in development;
``settings.LOGGING`` comes from :func:`logging_config` and ``configure_structlog`` is called once
from the settings module. Imports nothing of the project.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "[masked]"

# A key is sensitive when its lower-cased name contains one of these.
_SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "session",
    "csrf",
    "api_key",
    "apikey",
    "email",
    "address",
    "phone",
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SENSITIVE_QUERY = re.compile(
    r"([?&][^=&#\s]*(?:" + "|".join(_SENSITIVE_KEY_PARTS) + r")[^=&#\s]*=)[^&#\s]*",
    re.IGNORECASE,
)


@lru_cache(maxsize=1024)
def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def _mask_text(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(MASK, text)
    if "=" in text:
        text = _SENSITIVE_QUERY.sub(r"\1" + MASK, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, MutableMapping):
        return {
            key: MASK if isinstance(key, str) and _is_sensitive_key(key) else _mask_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(item) for item in value]
    return value


def mask_sensitive_data(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Never let emails, passwords, addresses or tokens reach a log line.

    Values under sensitive keys are replaced whole; email addresses and sensitive query-string
    parameters are masked inside any other text (a request path, an exception message).
    """
    for key, value in list(event_dict.items()):
        if key in {"exc_info", "_record", "_from_structlog"}:
            continue
        if _is_sensitive_key(key):
            event_dict[key] = MASK
        else:
            event_dict[key] = _mask_value(value)
    return event_dict


SHARED_PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_sensitive_data,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=SHARED_PROCESSORS,
    )


def console_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            mask_sensitive_data,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        foreign_pre_chain=SHARED_PROCESSORS,
    )


def logging_config(*, json: bool, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: one handler on stderr, JSON or console, for every logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": json_formatter},
            "console": {"()": console_formatter},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json else "console",
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # The request log's request_finished/request_failed line replaces these.
            "django.request": {"level": "CRITICAL"},
            "django.server": {"level": "WARNING"},
        },
    }

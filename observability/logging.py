"""Structured logging for every process: web, management commands and workers.

One processor chain serves structlog's own loggers and the standard library's (Django, Celery,
gunicorn), so every line carries the bound context (``trace_id`` first of all) and passes the
same masking. The renderer is JSON in production and a readable console format in development;
``settings.LOGGING`` comes from :func:`logging_config` and ``configure_structlog`` is called once
from the settings module. Imports nothing of the project.

In either format a traceback is plain text, formatted before the masking: no frame's local
variables (the console renderer's default, Rich, prints them all, a customer's order included),
and an email address in an exception's message is masked like any other. Periodic chatter (beat
sending its schedule, Celery's own lines that repeat a task's final line, a sweep that found
nothing) is written at DEBUG (:class:`QuietChatter`).
"""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

import structlog
from celery.exceptions import Retry
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


def readable_exception_values(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """An exception passed as a value, not as ``exc_info``, is written as its message.

    django-structlog's ``task_retrying`` passes Celery's ``Retry`` as its ``reason``, which both
    renderers would write as ``Retry(Retry(...), None, 14.2)``: it becomes the cause the task
    gave (``reason``) and the delay (``retry_in_s``).
    """
    for key, value in list(event_dict.items()):
        if key == "exc_info" or not isinstance(value, BaseException):
            continue
        if isinstance(value, Retry):
            cause = value.exc if value.exc is not None else value.message
            event_dict[key] = str(cause) if cause is not None else "retry"
            if isinstance(value.when, numbers.Real):
                event_dict.setdefault("retry_in_s", round(float(value.when), 1))
        else:
            event_dict[key] = f"{type(value).__name__}: {value}"
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


# Both renderers get the same text: a plain traceback (no locals), readable exception values,
# then the masking, which sees the traceback as the string it has become.
_BEFORE_RENDERING: list[Processor] = [
    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    structlog.processors.format_exc_info,
    readable_exception_values,
    mask_sensitive_data,
]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[*_BEFORE_RENDERING, structlog.processors.JSONRenderer()],
        foreign_pre_chain=SHARED_PROCESSORS,
    )


def console_formatter() -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[*_BEFORE_RENDERING, structlog.dev.ConsoleRenderer(colors=False)],
        foreign_pre_chain=SHARED_PROCESSORS,
    )


# Celery's own lines that repeat what django-structlog's line of the same task says
# (``task_succeeded``, ``task_retrying``), by their message templates (celery.app.trace and
# celery.worker.strategy), and beat's line for each task it sends.
_CHATTER_TEMPLATES = {
    "celery.app.trace": ("Task %(name)s[%(id)s] succeeded", "Task %(name)s[%(id)s] retry:"),
    "celery.worker.strategy": ("Task %(name)s[%(id)s] received",),
    "celery.beat": ("Scheduler: Sending due task",),
}


class QuietChatter(logging.Filter):
    """Writes periodic chatter at DEBUG: shown with ``LOG_LEVEL=DEBUG``, dropped otherwise.

    Chatter is an INFO line that says nothing a reader of the log needs: beat sending its
    schedule, Celery's lines that repeat a task's final line, and the final line of a periodic
    task that did nothing (``task_succeeded`` with a falsy ``result``, which
    ``observability.tasks`` binds for beat's tasks only). A filter on the handler, since the
    level of a library's line is the library's: the record is lowered to DEBUG, or dropped
    when the configured level is above it. Celery's ERROR line of a task that raised
    unexpectedly is dropped at any level: django-structlog's ``task_failed`` line says it all,
    traceback included, so a failure's traceback is written once.
    """

    def __init__(self, level: str = "INFO") -> None:
        super().__init__()
        self.shows_debug = logging.getLevelName(level) <= logging.DEBUG

    def filter(self, record: logging.LogRecord) -> bool:
        if self._repeats_a_failure(record):
            return False
        if record.levelno != logging.INFO or not self._is_chatter(record):
            return True
        if not self.shows_debug:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if isinstance(record.msg, dict):  # a structlog line: its level is already in it
            record.msg = {**record.msg, "level": "debug"}
        return True

    @staticmethod
    def _repeats_a_failure(record: logging.LogRecord) -> bool:
        """Celery's own line of a task that raised unexpectedly: django-structlog's
        ``task_failed`` line of the same task carries the same error and traceback."""
        return (
            record.name == "celery.app.trace"
            and record.levelno == logging.ERROR
            and isinstance(record.args, dict)
            and record.args.get("description") == "raised unexpected"
        )

    @staticmethod
    def _is_chatter(record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            return record.msg.get("event") == "task_succeeded" and (
                "result" in record.msg and not record.msg["result"]
            )
        templates = _CHATTER_TEMPLATES.get(record.name)
        return templates is not None and str(record.msg).startswith(templates)


def logging_config(*, json: bool, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict: one handler on stderr, JSON or console, for every logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": json_formatter},
            "console": {"()": console_formatter},
        },
        "filters": {"quiet_chatter": {"()": QuietChatter, "level": level}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json else "console",
                "filters": ["quiet_chatter"],
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # The request log's request_finished/request_failed line replaces these.
            "django.request": {"level": "CRITICAL"},
            "django.server": {"level": "WARNING"},
        },
    }

"""Typed reading of the process environment, with every problem reported at once.

Settings call these readers instead of touching ``os.environ`` so that a bad value stops
start-up with one message naming each faulty variable, rather than a traceback later.
Imports nothing of the project.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql"}


class InvalidConfiguration(ImproperlyConfigured):
    """The environment holds values the project cannot start with; the message lists each one."""


class Environment:
    """Reads variables and collects errors; ``raise_if_invalid`` reports them together."""

    def __init__(self, source: Mapping[str, str] | None = None) -> None:
        self._source = os.environ if source is None else source
        self.errors: list[str] = []

    def string(self, name: str, default: str | None = None) -> str:
        value = self._source.get(name)
        if value is None or value == "":
            if default is None:
                self.errors.append(f"{name} is required but not set")
                return ""
            return default
        return value

    def optional_string(self, name: str) -> str | None:
        value = self._source.get(name, "")
        return value or None

    def retired(self, name: str, why: str) -> None:
        """A variable that no longer does anything: refused, so that nobody relies on it."""
        if name in self._source:
            self.errors.append(f"{name} is no longer read: {why}")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(name, default)
        if value not in choices:
            self.errors.append(f"{name}={value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._source.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self.errors.append(f"{name}={raw!r} is not a boolean (use true or false)")
        return default

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._source.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not an integer")
            return default
        if minimum is not None and value < minimum:
            self.errors.append(f"{name}={value} must be at least {minimum}")
            return default
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        raw = self._source.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not a number")
            return default
        if minimum is not None and value < minimum:
            self.errors.append(f"{name}={value} must be at least {minimum}")
            return default
        return value

    def strings(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._source.get(name)
        if raw is None or raw.strip() == "":
            if default is None:
                self.errors.append(f"{name} is required but not set (comma-separated list)")
                return []
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def networks(
        self, name: str, default: list[str]
    ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        result = []
        for item in self.strings(name, default):
            try:
                result.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.errors.append(f"{name} holds {item!r}, which is not an IP network (CIDR)")
        return result

    def url(self, name: str, default: str) -> str:
        value = self.string(name, default)
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            self.errors.append(f"{name}={value!r} is not an http(s) URL")
            return default
        return value.rstrip("/")

    def database(self, name: str, default_sqlite_path: str) -> dict[str, Any]:
        """A Django DATABASES entry from a URL, or a SQLite file on embedded defaults."""
        raw = self._source.get(name, "")
        if not raw:
            return sqlite_database(default_sqlite_path)
        scheme = urlsplit(raw).scheme
        if scheme not in _DATABASE_SCHEMES:
            self.errors.append(
                f"{name} has unsupported scheme {scheme or '(none)'!r}: "
                "use postgres://user:password@host:port/name or sqlite:////absolute/path"
            )
            return sqlite_database(default_sqlite_path)
        try:
            config: dict[str, Any] = environ.Env.db_url_config(raw)
        except Exception as exc:  # django-environ raises several types for a bad URL
            self.errors.append(f"{name} is not a valid database URL: {exc}")
            return sqlite_database(default_sqlite_path)
        if scheme == "sqlite":
            return sqlite_database(config["NAME"])
        if not config.get("NAME"):
            self.errors.append(f"{name} names no database (expected .../<database name>)")
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
        # Fail fast when the server is unreachable (readiness probes wait on this).
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
        # django-prometheus's wrapper adds query and connection metrics. It must not be combined
        # with psycopg's native pool ("pool" in OPTIONS): that pairing is very slow.
        config["ENGINE"] = "django_prometheus.db.backends.postgresql"
        return config

    def raise_if_invalid(self) -> None:
        if self.errors:
            lines = "\n".join(f"  - {error}" for error in self.errors)
            raise InvalidConfiguration(f"Invalid configuration:\n{lines}")


def secret_key_problem(key: str, published: Collection[str]) -> str | None:
    """Why ``key`` cannot sign production sessions, or None; never repeats the key.

    Django's own check (security.W009) only warns, and passes a key of fifty ``a``: here fewer
    than 50 characters or 5 distinct ones, the ``django-insecure`` prefix, and any key ever
    published with the project, which anyone can sign sessions and password resets with.
    """
    if key in published:
        return (
            "SECRET_KEY is one published with the project (docker-compose.yml, the development "
            "default, a test): anyone can sign sessions with it; generate one"
        )
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure"):
        return (
            "SECRET_KEY must be at least 50 random characters in production, with at least 5 "
            "distinct ones"
        )
    return None


def sqlite_database(path: str) -> dict[str, Any]:
    """SQLite tuned for a small multi-threaded server: WAL, write lock taken up front."""
    return {
        "ENGINE": "django_prometheus.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # IMMEDIATE takes the write lock when the transaction begins, so concurrent
            # writers wait on ``timeout`` instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }

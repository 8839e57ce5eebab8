"""Reading configuration from the environment: defaults, parsing and clear errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import Environment


def test_embedded_defaults_give_two_sqlite_files():
    env = Environment({})

    database = env.database("DATABASE_URL", "/srv/monolithos/default.sqlite3")

    assert database["ENGINE"] == "django_prometheus.db.backends.sqlite3"
    assert database["NAME"] == "/srv/monolithos/default.sqlite3"
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    env.raise_if_invalid()


def test_a_postgres_url_becomes_a_postgres_database():
    env = Environment({"DATABASE_URL": "postgres://app:secret@db.internal:5433/orders"})

    database = env.database("DATABASE_URL", "unused")

    assert database["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert database["OPTIONS"]["connect_timeout"] == 3
    assert (database["HOST"], database["PORT"], database["NAME"], database["USER"]) == (
        "db.internal",
        5433,
        "orders",
        "app",
    )
    assert database["CONN_HEALTH_CHECKS"] is True
    assert env.errors == []


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL has unsupported scheme 'mysql'"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL has unsupported scheme '(none)'"),
        ({"DATABASE_URL": "postgres://host:5432/"}, "DATABASE_URL names no database"),
    ],
)
def test_a_bad_database_url_is_reported_by_name(variables, message):
    env = Environment(variables)
    env.database("DATABASE_URL", "unused")

    with pytest.raises(ImproperlyConfigured, match="Invalid configuration") as error:
        env.raise_if_invalid()
    assert message in str(error.value)


def test_every_error_is_reported_at_once():
    env = Environment({"DEBUG": "maybe", "WORKERS": "many", "SUPPLIER_API_URL": "ftp://x"})

    env.boolean("DEBUG", False)
    env.integer("WORKERS", 1)
    env.url("SUPPLIER_API_URL", "http://127.0.0.1:8090")
    env.string("SECRET_KEY")

    assert env.errors == [
        "DEBUG='maybe' is not a boolean (use true or false)",
        "WORKERS='many' is not an integer",
        "SUPPLIER_API_URL='ftp://x' is not an http(s) URL",
        "SECRET_KEY is required but not set",
    ]


def test_values_are_parsed_and_bounded():
    env = Environment({"A": "yes", "B": "3", "C": " x, y ,,z ", "D": "0", "E": "2.5"})

    assert env.boolean("A", False) is True
    assert env.integer("B", 1, minimum=1) == 3
    assert env.strings("C") == ["x", "y", "z"]
    assert env.integer("D", 1, minimum=1) == 1
    assert env.number("E", 1.0) == 2.5
    assert env.errors == ["D=0 must be at least 1"]


def test_choices_are_enforced():
    env = Environment({"DJANGO_ENV": "staging"})

    assert env.choice("DJANGO_ENV", ("development", "production"), "development") == "development"
    assert env.errors == ["DJANGO_ENV='staging' is not one of development, production"]

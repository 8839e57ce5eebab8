"""Start-up with real processes: bad configuration stops them, production settings pass --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k7#Qz9!vR2@mW5$tY8^pL1&nB4*xC6(jH3)gF0_dS7+aE9=uI2",
    "ALLOWED_HOSTS": "monolithos.example",
    "LEGACY_SHOP_API_KEY": "shop-key-7Yc2rK9pQ4vW8mZ1tB6nD3fH5jL0sX2a",
}
SETTINGS_OF_THESE_TESTS = {
    "DJANGO_ENV",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "LEGACY_SHOP_API_KEY",
    "LEGACY_SHOP_API_OPEN",
}


def manage(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_OF_THESE_TESTS}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deployment_checklist_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_secret_key_and_allowed_hosts():
    result = manage("check", DJANGO_ENV="production")

    assert result.returncode == 1
    assert "Invalid configuration:" in result.stderr
    assert "SECRET_KEY is required but not set" in result.stderr
    assert "ALLOWED_HOSTS is required but not set" in result.stderr


def test_production_refuses_a_development_secret_key():
    result = manage("check", **{**PRODUCTION, "SECRET_KEY": "short"})

    assert result.returncode == 1
    assert "SECRET_KEY must be at least 50 random characters in production" in result.stderr


def test_production_refuses_to_start_with_the_legacy_shop_endpoints_open():
    without_key = {
        name: value for name, value in PRODUCTION.items() if name != "LEGACY_SHOP_API_KEY"
    }

    result = manage("check", **without_key)

    assert result.returncode == 1
    assert result.stderr.startswith("Invalid configuration:\n")
    assert "LEGACY_SHOP_API_KEY is required in production" in result.stderr
    assert "set LEGACY_SHOP_API_OPEN=true to run them open on purpose" in result.stderr


def test_production_runs_the_legacy_shop_endpoints_open_when_told_to():
    without_key = {
        name: value for name, value in PRODUCTION.items() if name != "LEGACY_SHOP_API_KEY"
    }

    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.LEGACY_SHOP_API_KEY)",
        **without_key,
        LEGACY_SHOP_API_OPEN="true",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "None"


@pytest.mark.parametrize(
    "key", ["too-short", "a key with spaces in it, long enough to pass the length"]
)
def test_a_legacy_shop_key_unfit_for_a_header_stops_start_up(key):
    result = manage("check", LEGACY_SHOP_API_KEY=key)

    assert result.returncode == 1
    assert "LEGACY_SHOP_API_KEY must be at least 32 printable ASCII characters" in result.stderr
    assert key not in result.stderr  # a secret is named, never printed


def test_an_invalid_database_url_stops_start_up_with_a_clear_message():
    result = manage("check", DATABASE_URL="mysql://root@localhost/x", LOGISTICS_DATABASE_URL="bad")

    assert result.returncode == 1
    assert "DATABASE_URL has unsupported scheme 'mysql'" in result.stderr
    assert "LOGISTICS_DATABASE_URL has unsupported scheme '(none)'" in result.stderr
    assert result.stderr.startswith("Invalid configuration:\n")
    assert "Traceback" not in result.stderr


def test_a_retry_delay_the_broker_would_redeliver_before_it_is_due_stops_start_up():
    result = manage("check", CELERY_VISIBILITY_TIMEOUT="600", CELERY_MAX_COUNTDOWN_SECONDS="900")

    assert result.returncode == 1
    assert "CELERY_MAX_COUNTDOWN_SECONDS must be at most half of CELERY_VISIBILITY_TIMEOUT" in (
        result.stderr
    )


def test_a_setting_of_the_retired_breaker_window_stops_start_up():
    """Tuned for the window breaker, it would now be ignored without a word."""
    result = manage("check", BREAKER_FAILURE_RATE="0.6")

    assert result.returncode == 1
    assert "BREAKER_FAILURE_RATE is no longer read" in result.stderr
    assert "BREAKER_FAIL_MAX" in result.stderr


def test_a_strangler_copy_trusted_longer_than_its_maximum_age_stops_start_up():
    result = manage(
        "check", STRANGLER_STATE_FALLBACK_SECONDS="60", STRANGLER_STATE_MAX_AGE_SECONDS="30"
    )

    assert result.returncode == 1
    assert "STRANGLER_STATE_FALLBACK_SECONDS <= STRANGLER_STATE_MAX_AGE_SECONDS" in result.stderr


def test_a_mail_record_kept_shorter_than_the_outbox_messages_stops_start_up():
    result = manage("check", OUTBOX_RETENTION_DAYS="30", NOTIFICATION_RETENTION_DAYS="30")

    assert result.returncode == 1
    assert "NOTIFICATION_RETENTION_DAYS must be more than OUTBOX_RETENTION_DAYS" in result.stderr


def test_a_retired_dispatch_setting_stops_start_up_naming_its_replacement():
    result = manage("check", DISPATCH_LOST_AFTER_SECONDS="120")

    assert result.returncode == 1
    assert "DISPATCH_LOST_AFTER_SECONDS is no longer read" in result.stderr
    assert "set DISPATCH_CLAIM_SECONDS instead" in result.stderr


def test_a_cache_in_the_brokers_redis_database_stops_start_up():
    result = manage(
        "check", REDIS_URL="redis://127.0.0.1:6379/0", CACHE_URL="redis://127.0.0.1:6379"
    )

    assert result.returncode == 1
    assert "CACHE_URL must name another Redis database than REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("cache_url", "backend"),
    [("", "LocMemCache"), ("redis://127.0.0.1:6379/3", "FailOpenRedisCache")],
)
def test_the_cache_is_shared_through_redis_when_cache_url_is_set(cache_url, backend):
    result = manage(
        "shell",
        "-c",
        "from django.core.cache import caches; print(type(caches['default']).__name__)",
        CACHE_URL=cache_url,
        # Not the run's own broker: start-up refuses a cache in the broker's Redis database.
        REDIS_URL="",
        CELERY_BROKER_URL="",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == backend

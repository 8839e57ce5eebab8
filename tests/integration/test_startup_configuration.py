"""Start-up with real processes: bad configuration stops them, production settings pass --deploy."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from config.env import secret_key_problem

ROOT = Path(__file__).resolve().parents[2]
# A key of this run's own: one committed here would be public, and refused.
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
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
    "API_DOCS_PUBLIC",
    "PROMETHEUS_MULTIPROC_DIR",
    "METRICS_ALLOWED_NETWORKS",
    "METRICS_TOKEN",
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


def test_production_refuses_a_published_key_debug_and_a_missing_metrics_folder_at_once(tmp_path):
    published = "change-me-monolithos-compose-demo-key-0f3a9c2e7b1d4e8a9f6c5b3d2e1a0f9e"
    missing = tmp_path / "prometheus"

    result = manage(
        "check",
        **{**PRODUCTION, "SECRET_KEY": published},
        DEBUG="true",
        PROMETHEUS_MULTIPROC_DIR=str(missing),
    )

    assert result.returncode == 1
    assert result.stderr.startswith("Invalid configuration:\n")
    assert "SECRET_KEY is one published with the project" in result.stderr
    assert "DEBUG=true is refused in production" in result.stderr
    assert f"PROMETHEUS_MULTIPROC_DIR={str(missing)!r} is not a directory" in result.stderr
    assert published not in result.stderr  # a secret is named, never printed
    assert "Traceback" not in result.stderr


def test_a_missing_metrics_folder_stops_development_commands_with_a_clear_message(tmp_path):
    result = manage("check", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "nowhere"))

    assert result.returncode == 1
    assert "is not a directory: create it" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a" * 50, "at least 5 distinct"),
        ("abcd" * 13, "at least 5 distinct"),
        ("x" * 40 + "0123456789"[:9], "at least 50 random characters"),
        ("django-insecure-" + secrets.token_urlsafe(50), "at least 50 random characters"),
        ("django-insecure-development-only-never-in-production", "published with the project"),
    ],
)
def test_a_guessable_secret_key_is_refused(key, problem):
    refusal = secret_key_problem(key, settings.PUBLISHED_SECRET_KEYS)

    assert refusal is not None and problem in refusal
    assert key not in refusal


def test_a_random_secret_key_is_accepted():
    assert secret_key_problem(secrets.token_urlsafe(50), settings.PUBLISHED_SECRET_KEYS) is None


# SECRET_KEY=..., "SECRET_KEY": "...", SECRET_KEY: ${SECRET_KEY:-...}, env.string("SECRET_KEY", ...)
KEY_IN_TEXT = re.compile(
    r"""SECRET_KEY\b["']?\s*[:=,]\s*(?:\$\{SECRET_KEY:-)?["']?([^\s"'}]{12,})"""
)


def committed_secret_keys() -> set[str]:
    """Every value a file of the project assigns to SECRET_KEY (not the virtualenv, var/)."""
    found: set[str] = set()
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".")
            and name not in {"var", "__pycache__"}
            and not name.endswith(".egg-info")
        ]
        for name in names:
            if Path(name).suffix in {".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".txt", ""}:
                text = (Path(folder) / name).read_text(errors="replace")
                found.update(KEY_IN_TEXT.findall(text))
    # What a line names rather than holds: a setting's name, a compose placeholder, a call.
    return {key for key in found if not re.fullmatch(r"[A-Z_]+\)?|.*[$(].*", key)}


def test_every_secret_key_committed_to_the_repository_is_refused_in_production():
    committed = committed_secret_keys()

    assert "django-insecure-development-only-never-in-production" in committed
    accepted = {
        key for key in committed if secret_key_problem(key, settings.PUBLISHED_SECRET_KEYS) is None
    }
    assert accepted == set()


# Run inside a production process: what an anonymous client outside the metrics allow-list
# gets from the schema, the docs and /readyz, and what a staff member gets from the schema and
# from the API when asking for HTML.
ANONYMOUS_VISIT = """
import json, os
from django.contrib.auth.models import User
from rest_framework.test import APIClient
client = APIClient(REMOTE_ADDR="203.0.113.9", HTTP_HOST="monolithos.example")
seen = {}
for path in os.environ["VISIT"].split(","):
    response = client.get(path, secure=True)
    json_body = response["Content-Type"] == "application/json"
    seen[path] = [response.status_code, response.json() if json_body else None]
client.force_authenticate(User(username="staff", is_staff=True))
seen["staff"] = [client.get("/api/schema/", secure=True).status_code, None]
browser = client.get("/api/v1/shipments/", secure=True, HTTP_ACCEPT="text/html")
seen["browser"] = [browser.status_code, browser["Content-Type"]]
print(json.dumps(seen))
"""


def anonymous_visit(tmp_path: Path, paths: str, **variables: str) -> dict[str, list]:
    result = manage(
        "shell",
        "-c",
        ANONYMOUS_VISIT,
        **PRODUCTION,
        MONOLITHOS_VAR_DIR=str(tmp_path),
        VISIT=paths,
        **variables,
    )
    assert result.returncode == 0, result.stderr
    seen: dict[str, list] = json.loads(result.stdout.splitlines()[-1])
    return seen


def test_production_keeps_the_schema_and_docs_to_staff_and_readiness_details_to_operators(
    tmp_path,
):
    seen = anonymous_visit(tmp_path, "/api/schema/,/api/docs/,/readyz")

    for path in ("/api/schema/", "/api/docs/"):
        status, body = seen[path]
        assert status == 401, path
        assert body == {
            "message": "Authentication credentials were not provided.",
            "extra": {},
        }
    assert seen["staff"][0] == 200
    # No browsable API in production: a browser asking for HTML is told so, in JSON.
    assert seen["browser"] == [406, "application/json"]
    status, body = seen["/readyz"]
    assert body == {"status": "ok" if status == 200 else "unavailable"}


def test_api_docs_public_opens_the_schema_and_docs_in_production(tmp_path):
    # The docs' pages need collectstatic's manifest in production (the image's build runs it).
    seen = anonymous_visit(
        tmp_path,
        "/api/schema/,/readyz",
        API_DOCS_PUBLIC="true",
        METRICS_ALLOWED_NETWORKS="0.0.0.0/0",
    )

    assert seen["/api/schema/"][0] == 200
    assert seen["/readyz"][1].keys() == {"status", "failed", "checks"}


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


def test_an_attempt_backoff_capped_below_its_first_delay_stops_start_up():
    result = manage(
        "check", DISPATCH_ATTEMPT_BACKOFF_SECONDS="5", DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS="1"
    )

    assert result.returncode == 1
    assert (
        "DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS must be at least DISPATCH_ATTEMPT_BACKOFF_SECONDS"
        in result.stderr
    )

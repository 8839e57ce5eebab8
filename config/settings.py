"""Django settings: everything from the environment, with embedded defaults.

``DJANGO_ENV`` selects the environment: ``development`` (the default: SQLite files, mail
written to files, DEBUG on) or ``production`` (requires SECRET_KEY, ALLOWED_HOSTS and
LEGACY_SHOP_API_KEY or its waiver, DEBUG off, secure cookies, HSTS). Production differs from
development by environment values only; there is no second settings module. Every variable is
listed in docs/configuration.md.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from config.env import Environment, secret_key_problem
from observability.logging import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = Environment()

DJANGO_ENV = env.choice("DJANGO_ENV", ("development", "production"), "development")
PRODUCTION = DJANGO_ENV == "production"

# Embedded defaults keep their state here (SQLite files, invoices); never used in production
# unless the variables below point there.
VAR_DIR = Path(env.string("MONOLITHOS_VAR_DIR", str(BASE_DIR / "var")))

DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-never-in-production"  # noqa: S105
# Every key ever committed to the repository: public, so production refuses them (docs/adr/0020).
PUBLISHED_SECRET_KEYS = frozenset(
    {
        DEVELOPMENT_SECRET_KEY,
        # docker-compose.yml's demo default until it required SECRET_KEY from .env.
        "change-me-monolithos-compose-demo-key-0f3a9c2e7b1d4e8a9f6c5b3d2e1a0f9e",
        # tests/integration/test_startup_configuration.py's, before it generated one per run.
        "k7#Qz9!vR2@mW5$tY8^pL1&nB4*xC6(jH3)gF0_dS7+aE9=uI2",
    }
)

if PRODUCTION:
    SECRET_KEY = env.string("SECRET_KEY")
    ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS")
    DEBUG = env.boolean("DEBUG", False)
    _key_problem = secret_key_problem(SECRET_KEY, PUBLISHED_SECRET_KEYS) if SECRET_KEY else None
    if _key_problem:
        env.errors.append(_key_problem)
    if DEBUG:
        env.errors.append(
            "DEBUG=true is refused in production: it shows settings, SQL and tracebacks to "
            "anyone who makes a request fail"
        )
else:
    SECRET_KEY = env.string("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
    DEBUG = env.boolean("DEBUG", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_structlog",
    "drf_spectacular_sidecar",
    "axes",
    "observability.apps.ObservabilityConfig",
    "httpapi.apps.HttpApiConfig",
    "monolithos.apps.MonolithosConfig",
    "logistics.apps.LogisticsConfig",
    "notifications.apps.NotificationsConfig",
    "outbox.apps.OutboxConfig",
    "strangler.apps.StranglerConfig",
]

# The observability middlewares come first, so that every request, including one rejected by a
# later middleware (bad host, CSRF, HTTPS redirect), is counted and gets a trace id and its
# final log line (django-structlog's, with observability.request_log's hooks).
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    # Under /api/: an oversized body refused at once (413), every error answered in JSON.
    "httpapi.middleware.ApiErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it answers a locked-out login (429) for any view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Two aliases from day one: ``default`` holds the legacy tables, ``logistics`` will hold the
# new bounded context's tables (docs/adr/0001-embedded-defaults.md).
DATABASES = {
    "default": env.database("DATABASE_URL", str(VAR_DIR / "default.sqlite3")),
    "logistics": env.database("LOGISTICS_DATABASE_URL", str(VAR_DIR / "logistics.sqlite3")),
}
# Optional read replica of ``default`` (legacy reads only; config/routers.py). Tests read the
# primary through it (MIRROR), so replica lag never shows up as a flaky test.
REPLICA_DATABASE_URL = env.optional_string("REPLICA_DATABASE_URL")
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = {
        **env.database("REPLICA_DATABASE_URL", str(VAR_DIR / "default.sqlite3")),
        "TEST": {"MIRROR": "default"},
    }

for _database in DATABASES.values():
    if "sqlite3" in _database["ENGINE"] and _database["NAME"] != ":memory:":
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DATABASE_ROUTERS = ["config.routers.OwnershipRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out login before a password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# How many proxies in front of the app set X-Forwarded-For: 0 (the default) trusts only the
# peer's address, so a client cannot pick its own by sending the header. The API's throttles
# and the login lockout count per address with this.
TRUSTED_PROXY_COUNT = env.integer("TRUSTED_PROXY_COUNT", 0, minimum=0)

# Logins (admin and back office, one form): django-axes locks a username out of an address
# after LOGIN_FAILURE_LIMIT wrong passwords, for LOGIN_LOCKOUT_MINUTES from the last one
# (docs/adr/0020). Attempts and lockouts are in the admin (Axes: Access attempts, Access
# failures) and counted in monolithos_login_failures_total / monolithos_login_lockouts_total.
AXES_FAILURE_LIMIT = env.integer("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.integer("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Successful logins are not recorded: the access log would keep every staff login forever.
AXES_DISABLE_ACCESS_LOG = True
# Its start-up banner on every process and command says nothing an operator needs.
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if TRUSTED_PROXY_COUNT else ("REMOTE_ADDR",)
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.string("MEDIA_ROOT", str(VAR_DIR / "media")))
# WhiteNoise serves the admin's static files from the app under any server (gunicorn included);
# in development straight from the apps, in production from STATIC_ROOT after collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGIN_URL = "admin:login"
# Where a login goes when its ``next`` is missing or refused (another host): the back office,
# not Django's /accounts/profile/ (a 404 here).
LOGIN_REDIRECT_URL = "/"

# Email: SMTP when EMAIL_HOST is set; otherwise each mail is written to a file under
# EMAIL_FILE_PATH with one log line saying where (notifications.mail_files), never printed.
EMAIL_HOST = env.optional_string("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.integer("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1)
else:
    EMAIL_BACKEND = env.string("EMAIL_BACKEND", "notifications.mail_files.MailFileBackend")
    # Where the file backends (ours, Django's filebased) write each mail.
    EMAIL_FILE_PATH = env.string("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "orders@monolithos.example")
SALES_TEAM_EMAIL = env.string("SALES_TEAM_EMAIL", "sales@monolithos.example")

# Told of every committed shipment change (logistics.contracts.ShipmentListener), by dotted path,
# so that the logistics context imports none of them: the legacy order's shipping columns follow
# the shipment at once, from the process that changed it (the fast path).
LOGISTICS_SHIPMENT_LISTENERS = ["monolithos.shipping_columns.LegacyShippingColumns"]
# The tasks that receive every shipment's events (logistics.contracts.ShipmentEvent), by name,
# each recorded in the outbox in the transaction of the change (docs/adr/0021): the columns
# follow the shipment even when the process that changed it died before telling its listeners.
LOGISTICS_SHIPMENT_EVENT_TASKS = ["monolithos.tasks.apply_shipment_event"]

# The shipping data's ownership phases (docs/adr/0022, docs/runbook.md Phase 6): the strangler
# keeps the phase beside the route modes; the database router (config/routers.py) says what each
# phase means for the data. The parity job runs every PARITY seconds (orders placed in the last
# SETTLE seconds are left for the next run: their shipment may not exist yet); a step forward
# needs a run at most MAX_AGE seconds old. SHIPPING_COLUMNS_DROPPED is the contract's release:
# the Order model without its shipping columns, and the migration that drops them installed
# (monolithos.shipping_contract): set it only in the contract phase, and unset it only once that
# migration is reversed.
STRANGLER_MOVED_DATA = "monolithos.shipping_parity.ShippingColumnsOwner"
STRANGLER_PARITY_SECONDS = env.number("STRANGLER_PARITY_SECONDS", 900.0, minimum=10.0)
STRANGLER_PARITY_MAX_AGE_SECONDS = env.number(
    "STRANGLER_PARITY_MAX_AGE_SECONDS", 3600.0, minimum=10.0
)
if STRANGLER_PARITY_MAX_AGE_SECONDS < STRANGLER_PARITY_SECONDS:
    env.errors.append(
        "STRANGLER_PARITY_MAX_AGE_SECONDS must be at least STRANGLER_PARITY_SECONDS: a run "
        "would be too old before the next one"
    )
SHIPPING_PARITY_SETTLE_SECONDS = env.number("SHIPPING_PARITY_SETTLE_SECONDS", 300.0, minimum=0.0)
SHIPPING_COLUMNS_DROPPED = env.boolean("SHIPPING_COLUMNS_DROPPED", False)
if SHIPPING_COLUMNS_DROPPED:
    INSTALLED_APPS.append("monolithos.shipping_contract.apps.ShippingContractConfig")

# The Supplier Protocol API (supplier_sim on embedded defaults).
SUPPLIER_API_URL = env.url("SUPPLIER_API_URL", "http://127.0.0.1:8090")
# Resilience of supplier calls (docs/runbook.md, "The supplier is down", lists them all).
SUPPLIER_CONNECT_TIMEOUT = env.number("SUPPLIER_CONNECT_TIMEOUT", 1.0, minimum=0.01)
SUPPLIER_READ_TIMEOUT = env.number("SUPPLIER_READ_TIMEOUT", 3.0, minimum=0.01)
SUPPLIER_DEADLINE = env.number("SUPPLIER_DEADLINE", 4.0, minimum=0.01)
SUPPLIER_BACKGROUND_ATTEMPTS = env.integer("SUPPLIER_BACKGROUND_ATTEMPTS", 4, minimum=1)
SUPPLIER_BACKGROUND_DEADLINE = env.number("SUPPLIER_BACKGROUND_DEADLINE", 30.0, minimum=0.01)
SUPPLIER_BACKOFF_INITIAL = env.number("SUPPLIER_BACKOFF_INITIAL", 0.2, minimum=0.0)
SUPPLIER_BACKOFF_MAX = env.number("SUPPLIER_BACKOFF_MAX", 5.0, minimum=0.0)
SUPPLIER_MAX_CONCURRENT_CALLS = env.integer("SUPPLIER_MAX_CONCURRENT_CALLS", 20, minimum=1)
# Twelve consecutive failures ride out the simulator's default chaos (55% of calls failing, its
# hangs included) and still open within 12 calls of an outage (docs/adr/0017 has the numbers).
BREAKER_FAIL_MAX = env.integer("BREAKER_FAIL_MAX", 12, minimum=1)
for _retired in ("BREAKER_WINDOW_SIZE", "BREAKER_MINIMUM_CALLS", "BREAKER_FAILURE_RATE"):
    if env.optional_string(_retired):
        env.errors.append(
            f"{_retired} is no longer read: the breaker opens after BREAKER_FAIL_MAX "
            "consecutive failures (docs/adr/0017)"
        )
BREAKER_SLOW_CALL_SECONDS = env.number("BREAKER_SLOW_CALL_SECONDS", 2.5, minimum=0.01)
BREAKER_RESET_TIMEOUT = env.number("BREAKER_RESET_TIMEOUT", 15.0, minimum=0.01)
# Shared state: the circuit breaker and the Celery broker. Unset: the breaker's state in a SQLite
# file every process of this host opens (docs/adr/0024) and a filesystem broker under var/celery.
REDIS_URL = env.optional_string("REDIS_URL")
BREAKER_STATE_FILE = Path(env.string("BREAKER_STATE_FILE", str(VAR_DIR / "breaker.sqlite3")))
# The cache holds the API's throttle histories and the supplier's last good quotes. Unset, each
# process has its own (a client gets the throttle's rate once per web process). It must be a
# Redis database of its own: clearing a Redis cache flushes its whole database. It fails open
# (config/cache.py): while Redis is unreachable, requests go unthrottled rather than fail.
CACHE_URL = env.optional_string("CACHE_URL")


def _redis_database(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2], parts.path.strip("/") or "0"


if CACHE_URL and _redis_database(CACHE_URL) in {
    _redis_database(url) for url in (REDIS_URL, env.optional_string("CELERY_BROKER_URL")) if url
}:
    env.errors.append(
        "CACHE_URL must name another Redis database than REDIS_URL and CELERY_BROKER_URL: "
        "clearing the cache would flush the broker's queues and the breaker's state"
    )
CACHES = {
    "default": (
        {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "monolithos",
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery (docs/adr/0008-celery-settings.md explains each choice).
# The filesystem transport ignores the host, but kombu warns on every connection it clones (each
# publish) when the URL names none ("No hostname was supplied"): this one names localhost.
FILESYSTEM_BROKER_URL = "filesystem://localhost/"
CELERY_BROKER_URL = env.optional_string("CELERY_BROKER_URL") or REDIS_URL or FILESYSTEM_BROKER_URL
# A message not acknowledged within this long is delivered again (Redis): every countdown and
# retry delay stays far below it.
CELERY_VISIBILITY_TIMEOUT = env.integer("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_MAX_COUNTDOWN_SECONDS = env.integer("CELERY_MAX_COUNTDOWN_SECONDS", 600, minimum=1)
if CELERY_MAX_COUNTDOWN_SECONDS * 2 > CELERY_VISIBILITY_TIMEOUT:
    env.errors.append(
        "CELERY_MAX_COUNTDOWN_SECONDS must be at most half of CELERY_VISIBILITY_TIMEOUT, or "
        "a delayed task is delivered again before it is due"
    )
if CELERY_BROKER_URL.startswith("filesystem:"):
    _celery_dir = VAR_DIR / "celery"
    for _folder in ("queue", "control"):
        (_celery_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
        # The transport cannot wake a consumer: a worker whose every slot is busy, or that found
        # every queue empty, looks again after this long. kombu's default, 1 s, held a worker of
        # four threads to about four tasks a second however idle its CPU (docs/adr/0008).
        "polling_interval": env.number("CELERY_FILESYSTEM_POLLING_SECONDS", 0.1, minimum=0.01),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's default, set: django-structlog reads it on every publish, and Celery takes about
# twice as long to find a setting left at its default (docs/adr/0018).
CELERY_TASK_PROTOCOL = 2
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task started this many times without returning killed its worker each time: it is recorded
# as failed instead of being run again (outbox.reliability).
CELERY_TASK_MAX_DELIVERIES = env.integer("CELERY_TASK_MAX_DELIVERIES", 3, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 90, minimum=1)
# WeasyPrint grows in memory: a worker process is replaced after this many tasks or kilobytes.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.integer("CELERY_WORKER_MAX_TASKS_PER_CHILD", 500, minimum=1)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.integer(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 400_000, minimum=50_000
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after every task unless this
# is set: a new PostgreSQL session per task, forked and authenticated, the largest CPU cost of a
# herd. Set, it closes them every 1,000 tasks; between tasks config.celery applies CONN_MAX_AGE
# and the health checks as Django does between requests.
CELERY_DB_REUSE_MAX = 1000
# One queue per kind of work, so a flood of invoices never delays a dispatch or a mail.
CELERY_QUEUE_NAMES = ("intake", "logistics", "invoices", "notifications")
CELERY_TASK_DEFAULT_QUEUE = "intake"
CELERY_TASK_ROUTES = {
    "logistics.tasks.*": {"queue": "logistics"},
    "monolithos.tasks.render_invoice": {"queue": "invoices"},
    "notifications.tasks.*": {"queue": "notifications"},
}
# How an accepted order request reaches the intake's placement (docs/adr/0025): "broker" sends
# it to the Celery intake queue after its commit; "claimed" sends nothing (a NOTIFY on
# PostgreSQL) and manage.py intake_worker claims received requests, up to INTAKE_WORKER_BATCH
# at a time, looking again at least every INTAKE_WORKER_IDLE_SECONDS (SQLite's poll).
ORDER_INTAKE_HAND_OVER = env.choice("ORDER_INTAKE_HAND_OVER", ("broker", "claimed"), "broker")
INTAKE_WORKER_BATCH = env.integer("INTAKE_WORKER_BATCH", 50, minimum=1)
INTAKE_WORKER_IDLE_SECONDS = env.number("INTAKE_WORKER_IDLE_SECONDS", 1.0, minimum=0.05)
# A dispatch the breaker or the bulkhead refused comes back after DISPATCH_RETRY_INITIAL_SECONDS.
# One the supplier failed is tried again after DISPATCH_ATTEMPT_BACKOFF_SECONDS, doubling each
# time up to DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS: the breaker protects a failing supplier, so a
# shipment's own backoff stays a few seconds (docs/adr/0026).
DISPATCH_RETRY_INITIAL_SECONDS = env.number("DISPATCH_RETRY_INITIAL_SECONDS", 10.0, minimum=1.0)
DISPATCH_ATTEMPT_BACKOFF_SECONDS = env.number("DISPATCH_ATTEMPT_BACKOFF_SECONDS", 1.0, minimum=0.1)
DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS = env.number(
    "DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS", 5.0, minimum=0.1
)
if DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS < DISPATCH_ATTEMPT_BACKOFF_SECONDS:
    env.errors.append(
        "DISPATCH_ATTEMPT_BACKOFF_MAX_SECONDS must be at least DISPATCH_ATTEMPT_BACKOFF_SECONDS"
    )
# Every dispatch task holds a lease on its shipment (docs/adr/0019): its creation's and a sweep's
# last DISPATCH_CLAIM_SECONDS, a retry's its countdown plus that, a running task's the hard time
# limit. beat's sweep enqueues a due shipment that no lease holds (its task was lost), at most
# DISPATCH_SWEEP_BATCH a run, so a backlog (a backfill of history) reaches the supplier at a
# bounded rate (10 a second on the defaults).
DISPATCH_SWEEP_BATCH = env.integer("DISPATCH_SWEEP_BATCH", 100, minimum=1)
DISPATCH_CLAIM_SECONDS = env.number("DISPATCH_CLAIM_SECONDS", 60.0, minimum=1.0)
env.retired(
    "DISPATCH_LOST_AFTER_SECONDS",
    "a dispatch task's lease decides when the sweep hands its shipment over again; "
    "set DISPATCH_CLAIM_SECONDS instead (docs/adr/0019)",
)
# Work the database says is owed (an order request not placed, an order without its shipment, an
# invoice not rendered, a mail not sent) that no outbox message asks for, this long after it was
# recorded, lost its hand-over: beat's sweeps (every OWED_WORK_SWEEP_SECONDS) hand it to the
# outbox again, looking back OWED_WORK_LOOKBACK_HOURS for orders without their shipment. Longer
# than the outbox's lease: the legacy path hands some of it over inside its request, after its
# commit (docs/adr/0015).
OWED_WORK_LEASE_SECONDS = env.number("OWED_WORK_LEASE_SECONDS", 60.0, minimum=1.0)
OWED_WORK_SWEEP_SECONDS = env.number("OWED_WORK_SWEEP_SECONDS", 20.0, minimum=1.0)
OWED_WORK_LOOKBACK_HOURS = env.integer("OWED_WORK_LOOKBACK_HOURS", 24, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "sweep-due-shipments": {
        "task": "logistics.tasks.sweep_due_shipments",
        "schedule": env.number("DISPATCH_SWEEP_SECONDS", 10.0, minimum=1.0),
    },
    "sweep-outbox": {
        "task": "outbox.tasks.sweep_outbox",
        "schedule": env.number("OUTBOX_SWEEP_SECONDS", 10.0, minimum=1.0),
    },
    "sweep-pending-invoices": {
        "task": "monolithos.tasks.sweep_pending_invoices",
        "schedule": OWED_WORK_SWEEP_SECONDS,
    },
    "sweep-queued-notifications": {
        "task": "notifications.tasks.sweep_queued_notifications",
        "schedule": OWED_WORK_SWEEP_SECONDS,
    },
    "sweep-orders-without-shipment": {
        "task": "monolithos.tasks.sweep_orders_without_shipment",
        "schedule": OWED_WORK_SWEEP_SECONDS,
    },
    "purge-sent-notifications": {
        "task": "notifications.tasks.purge_sent_notifications",
        "schedule": 3600.0,
    },
    "sweep-order-requests": {
        "task": "monolithos.tasks.sweep_order_requests",
        "schedule": OWED_WORK_SWEEP_SECONDS,
    },
    "purge-order-requests": {
        "task": "monolithos.tasks.purge_order_requests",
        "schedule": 3600.0,
    },
    "purge-strangler-mismatches": {
        "task": "strangler.tasks.purge_mismatches",
        "schedule": 3600.0,
    },
    "purge-strangler-traffic": {
        "task": "strangler.tasks.purge_traffic",
        "schedule": 3600.0,
    },
    "check-data-parity": {
        "task": "strangler.tasks.check_parity",
        "schedule": STRANGLER_PARITY_SECONDS,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The outbox (docs/adr/0009, 0015): a message still unpublished this long after its commit lost
# its relay, and the sweep publishes it. A message is owed until its task has run: one published
# and not done within its lease (doubling with each hand-over, up to the maximum) that its queue
# cannot still hold was lost with the broker or a worker, and is handed over again, at most
# OUTBOX_MAX_PUBLICATIONS times. Done ones are kept this many days.
OUTBOX_RELAY_GRACE_SECONDS = env.number("OUTBOX_RELAY_GRACE_SECONDS", 30.0, minimum=1.0)
OUTBOX_LEASE_SECONDS = env.number("OUTBOX_LEASE_SECONDS", 30.0, minimum=1.0)
OUTBOX_LEASE_MAX_SECONDS = env.number("OUTBOX_LEASE_MAX_SECONDS", 600.0, minimum=1.0)
OUTBOX_MAX_PUBLICATIONS = env.integer("OUTBOX_MAX_PUBLICATIONS", 10, minimum=1)
if not OUTBOX_LEASE_SECONDS <= OUTBOX_LEASE_MAX_SECONDS < CELERY_VISIBILITY_TIMEOUT:
    env.errors.append(
        "OUTBOX_LEASE_SECONDS must not exceed OUTBOX_LEASE_MAX_SECONDS, which must be below "
        "CELERY_VISIBILITY_TIMEOUT: the database, not the broker, decides when a lost message is "
        "handed over again"
    )
OUTBOX_RETENTION_DAYS = env.integer("OUTBOX_RETENTION_DAYS", 7, minimum=1)
# Publishing from a request, an on-commit relay or a sweep waits at most this long on the broker
# (connect, then send), and once; a failed publish is left to the sweep (outbox/broker.py).
BROKER_PUBLISH_TIMEOUT_SECONDS = env.number("BROKER_PUBLISH_TIMEOUT_SECONDS", 0.25, minimum=0.01)
# Sent mails (recipient and context: personal data) are deleted this many days after sending.
# Their idempotency key goes with them, so the retention outlives every message that could ask
# for the same mail again: the outbox's published messages.
NOTIFICATION_RETENTION_DAYS = env.integer("NOTIFICATION_RETENTION_DAYS", 90, minimum=1)
if NOTIFICATION_RETENTION_DAYS <= OUTBOX_RETENTION_DAYS:
    env.errors.append(
        "NOTIFICATION_RETENTION_DAYS must be more than OUTBOX_RETENTION_DAYS, or a message "
        "delivered again could send a mail whose record is already gone"
    )

# The logistics API (logistics/api/, under /api/v1/): JSON only, token or session users,
# throttled per user and per anonymous client through the default cache (CACHE_URL).
API_THROTTLE_USER = env.string("API_THROTTLE_USER", "600/minute")
API_THROTTLE_ANON = env.string("API_THROTTLE_ANON", "60/minute")
# Failed token authentications per client address (httpapi.authentication): past it, 429.
API_THROTTLE_TOKEN_FAILURES = env.string("API_THROTTLE_TOKEN_FAILURES", "10/minute")
# How long a process remembers a token that authenticated (httpapi.authentication): a deleted
# token is refused at most this long after; 0 looks every token up (docs/adr/0025).
API_TOKEN_CACHE_SECONDS = env.integer("API_TOKEN_CACHE_SECONDS", 5, minimum=0)
for _name, _rate in (
    ("API_THROTTLE_USER", API_THROTTLE_USER),
    ("API_THROTTLE_ANON", API_THROTTLE_ANON),
    ("API_THROTTLE_TOKEN_FAILURES", API_THROTTLE_TOKEN_FAILURES),
):
    _count, _, _period = _rate.partition("/")
    # DRF would only fail on the first request; the period is read from its first letter.
    if not (_count.isdigit() and _period[:1] in ("s", "m", "h", "d") and "/" not in _period):
        env.errors.append(f"{_name}={_rate!r} is not a rate like 600/minute")
REST_FRAMEWORK = {
    # Token first, so that an anonymous request gets 401 with ``WWW-Authenticate: Token``.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "httpapi.authentication.GuardedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON; in development also DRF's browsable API, for a browser (Accept: text/html).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_PARSER_CLASSES": ["httpapi.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "httpapi.throttling.AnonRateThrottle",
        "httpapi.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": API_THROTTLE_ANON,
        "user": API_THROTTLE_USER,
        "token_failures": API_THROTTLE_TOKEN_FAILURES,
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "logistics.api.errors.exception_handler",
}
# The schema (/api/schema/) and its docs (/api/docs/, /api/redoc/) are staff-only in production
# unless API_DOCS_PUBLIC=true opens them; always open in development.
API_DOCS_PUBLIC = env.boolean("API_DOCS_PUBLIC", not PRODUCTION)
SPECTACULAR_SETTINGS = {
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny"
        if API_DOCS_PUBLIC
        else "rest_framework.permissions.IsAdminUser"
    ],
    "TITLE": "Monolithos API",
    "DESCRIPTION": "Order intake (asynchronous, with Idempotency-Key), the orders it places (each "
    "with its tracking and invoice PDF) and the shipments of the logistics context: list, look "
    "up, dispatch, cancel, track.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the project's own static files (drf-spectacular-sidecar): the
    # docs work offline and load nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three "status" enums (shipments, order requests, orders): each gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "ShipmentStatusEnum": "logistics.api.serializers.STATUS_CHOICES",
        "OrderRequestStatusEnum": "monolithos.models.OrderRequest.STATUSES",
        "OrderStatusEnum": "monolithos.models.Order.STATUS_CHOICES",
    },
}

# Everything under API_PATH_PREFIX answers its errors in JSON (httpapi): the documented body
# {"message", "extra"}, except the legacy shop's routes, which keep their {"error"} (ADR 0020).
API_PATH_PREFIX = "/api/"
API_LEGACY_SHOP_PREFIX = "/api/orders/"
# The largest request body (form or JSON) read, in bytes; larger is a 413 under /api/. The
# largest valid order is about 25 KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("DATA_UPLOAD_MAX_MEMORY_SIZE", 262_144, minimum=1024)

# Idempotency-Key on POST /api/v1/orders/ (monolithos/intake.py): an order request, and so its
# key, is kept this long after it was processed.
IDEMPOTENCY_KEY_TTL_HOURS = env.integer("IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=24)

# The legacy shop JSON endpoints (/api/orders/...) have no authentication of their own. The key
# closes them: once it is set, every request needs it in X-Shop-Api-Key or gets 401
# (monolithos/shop_api_key.py). Production refuses to run them open unless
# LEGACY_SHOP_API_OPEN=true says so on purpose; the waiver counts only while no key is set
# (docs/runbook.md, phase 5).
LEGACY_SHOP_API_KEY = env.optional_string("LEGACY_SHOP_API_KEY")
LEGACY_SHOP_API_OPEN = env.boolean("LEGACY_SHOP_API_OPEN", False)
if LEGACY_SHOP_API_KEY is not None and (
    len(LEGACY_SHOP_API_KEY) < 32 or not all("!" <= char <= "~" for char in LEGACY_SHOP_API_KEY)
):
    env.errors.append(
        "LEGACY_SHOP_API_KEY must be at least 32 printable ASCII characters without spaces "
        "(it travels in an HTTP header)"
    )
if PRODUCTION and LEGACY_SHOP_API_KEY is None and not LEGACY_SHOP_API_OPEN:
    env.errors.append(
        "LEGACY_SHOP_API_KEY is required in production: without it the legacy shop endpoints "
        "(/api/orders/...) are open to anyone; set LEGACY_SHOP_API_OPEN=true to run them open "
        "on purpose"
    )

# The strangler facade (docs/adr/0016, docs/runbook.md Phase 5). Each process reads the state's
# version from the cache (CACHE_URL) this often, reloads from the database when it moved, and
# every FALLBACK seconds when it cannot be read (no shared cache, Redis down); MAX_AGE bounds a
# copy's age whatever the cache says. Shadow candidates get BUDGET seconds, on WORKERS threads
# per process; mismatches are kept RETENTION days.
STRANGLER_STATE_CHECK_SECONDS = env.number("STRANGLER_STATE_CHECK_SECONDS", 0.25, minimum=0.01)
STRANGLER_STATE_FALLBACK_SECONDS = env.number("STRANGLER_STATE_FALLBACK_SECONDS", 1.0, minimum=0.05)
STRANGLER_STATE_MAX_AGE_SECONDS = env.number("STRANGLER_STATE_MAX_AGE_SECONDS", 30.0, minimum=1.0)
STRANGLER_SHADOW_BUDGET_SECONDS = env.number("STRANGLER_SHADOW_BUDGET_SECONDS", 0.5, minimum=0.01)
STRANGLER_SHADOW_WORKERS = env.integer("STRANGLER_SHADOW_WORKERS", 4, minimum=1)
STRANGLER_MISMATCH_RETENTION_DAYS = env.integer("STRANGLER_MISMATCH_RETENTION_DAYS", 14, minimum=1)
# The ops panel's traffic counts (docs/adr/0023): each process adds its counts to the table this
# often; minutes older than the retention are purged hourly (the panel shows the last hour).
STRANGLER_TRAFFIC_FLUSH_SECONDS = env.number("STRANGLER_TRAFFIC_FLUSH_SECONDS", 5.0, minimum=0.1)
STRANGLER_TRAFFIC_RETENTION_HOURS = env.integer("STRANGLER_TRAFFIC_RETENTION_HOURS", 48, minimum=2)
if not (
    STRANGLER_STATE_CHECK_SECONDS
    <= STRANGLER_STATE_FALLBACK_SECONDS
    <= STRANGLER_STATE_MAX_AGE_SECONDS
):
    env.errors.append(
        "STRANGLER_STATE_CHECK_SECONDS <= STRANGLER_STATE_FALLBACK_SECONDS <= "
        "STRANGLER_STATE_MAX_AGE_SECONDS must hold"
    )

# Logs: JSON lines in production, readable console lines in development (LOG_FORMAT overrides).
LOG_FORMAT = env.choice("LOG_FORMAT", ("json", "console"), "json" if PRODUCTION else "console")
LOG_LEVEL = env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOGGING = logging_config(json=LOG_FORMAT == "json", level=LOG_LEVEL)
configure_structlog()
# django-structlog writes the request and task lines (docs/adr/0018). The request's id is the
# validated trace id (observability.request_log), never a client's X-Request-ID or
# X-Correlation-ID; no IP address (personal data, and spoofable behind a proxy); the user id is
# ours, which reads no session to find it. Requests and tasks each end with one line, its level
# by status; the lines that say one started are at DEBUG. Tasks are logged by the worker step
# in config/celery.py. Every setting it reads per request is set here, defaults included: one
# left unset costs an exception each time it is read.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = False
DJANGO_STRUCTLOG_TRUST_UPSTREAM_CORRELATION_ID = False
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_USER_ID_FIELD = None
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
DJANGO_STRUCTLOG_STATUS_DEFAULT_LOG_LEVEL = logging.INFO
DJANGO_STRUCTLOG_STATUS_2XX_LOG_LEVEL = logging.INFO
DJANGO_STRUCTLOG_STATUS_4XX_LOG_LEVEL = logging.WARNING
DJANGO_STRUCTLOG_STATUS_5XX_LOG_LEVEL = logging.ERROR
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_CELERY_DEFAULT_LOG_LEVEL = logging.INFO
DJANGO_STRUCTLOG_CELERY_TASK_START_LOG_LEVEL = logging.DEBUG

# /metrics, and the details of /readyz: open in development; in production only to these
# networks or this bearer token (docs/adr/0004-metrics-access.md). /readyz's status is public.
METRICS_ALLOWED_NETWORKS = env.networks(
    "METRICS_ALLOWED_NETWORKS",
    ["127.0.0.1/32", "::1/128"] if PRODUCTION else ["0.0.0.0/0", "::/0"],
)
METRICS_TOKEN = env.optional_string("METRICS_TOKEN")
# prometheus_client writes every metric's file there from the first sample on: a missing folder
# was a raw traceback in every command.
PROMETHEUS_MULTIPROC_DIR = env.optional_string("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    env.errors.append(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} is not a directory: create it "
        "(empty, shared by every process of the host) before starting, or unset it"
    )

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
    # Probes and scrapers speak plain HTTP to the pod.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", [])
    # Static files are compressed and cache-busted from what `collectstatic` wrote at build time.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

env.raise_if_invalid()

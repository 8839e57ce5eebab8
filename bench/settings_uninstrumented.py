"""Project settings without the instrumentation middleware, for the overhead benchmark only."""

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

INSTRUMENTATION = (
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
)

MIDDLEWARE = [name for name in MIDDLEWARE if name not in INSTRUMENTATION]

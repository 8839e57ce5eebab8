# One image for every process of the system: web (gunicorn), migrate (one-shot), the supplier
# simulator and the Celery worker. docker-compose.yml picks the command per service.
FROM python:3.11-slim-bookworm

# The project runs from its source tree in /app (see the install step below), hence PYTHONPATH.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    MONOLITHOS_VAR_DIR=/app/var \
    STATIC_ROOT=/app/var/static \
    MEDIA_ROOT=/app/var/media

# WeasyPrint (invoice PDFs) needs Pango, HarfBuzz's subsetter and at least one font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so that editing the sources does not
# invalidate this (slow) layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project runs from its source tree in /app (WORKDIR + PYTHONPATH), as in development.
COPY manage.py ./
COPY config ./config
COPY httpapi ./httpapi
COPY logistics ./logistics
COPY monolithos ./monolithos
COPY notifications ./notifications
COPY observability ./observability
COPY outbox ./outbox
COPY strangler ./strangler
COPY supplier_sim ./supplier_sim

# Static files are baked into the image, with production's storage: it writes the manifest of
# hashed names that production reads (the admin's files, Swagger UI's and ReDoc's); without it
# every page naming a static file fails. collectstatic needs no database; the key is one of its
# own, thrown away. /app/var/media is created owned by the app user so that a fresh named
# volume mounted there inherits that ownership.
RUN DJANGO_ENV=production ALLOWED_HOSTS=build LEGACY_SHOP_API_OPEN=true \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

USER app

EXPOSE 8000

ENV GUNICORN_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]

# Clusterhub — one image for web, worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    CLUSTERHUB_VAR_DIR=/var/lib/clusterhub

WORKDIR /app
# gettext's msgfmt compiles the translation catalogues (locale/) at build time.
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /app --uid 10001 clusterhub \
    && mkdir -p /var/lib/clusterhub \
    && chown clusterhub /var/lib/clusterhub

COPY pyproject.toml requirements.lock README.md ./
COPY config ./config
COPY members ./members
COPY events ./events
COPY matchmaking ./matchmaking
COPY insights ./insights
COPY notifications ./notifications
RUN pip install -c requirements.lock .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY locale ./locale

# collectstatic needs settings but no real secret or database.
RUN SECRET_KEY=build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(64))') \
    sh -c 'python manage.py collectstatic --noinput && python manage.py compilemessages --ignore "*/site-packages/*"'

USER clusterhub
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]

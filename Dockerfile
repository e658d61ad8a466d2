# Release and Deployment Management: one image for web, worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Import the project from /app (not site-packages), so that the settings'
    # BASE_DIR is /app and templates/, static/ and staticfiles/ are found.
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=releasemgmt.settings.production

WORKDIR /app

# Only the sources: no local virtualenv, SQLite file or caches.
COPY pyproject.toml README.md manage.py ./
COPY releasemgmt ./releasemgmt
COPY releases ./releases
COPY changes ./changes
COPY cmdb ./cmdb
COPY calendars ./calendars
COPY notifications ./notifications
COPY audit ./audit
COPY reports ./reports
COPY pipelines ./pipelines
COPY sso ./sso
COPY evidence ./evidence
COPY webhooks ./webhooks
COPY templates ./templates
COPY static ./static

RUN pip install . \
 && useradd --create-home --uid 1000 --shell /usr/sbin/nologin app \
 && mkdir -p /app/staticfiles /app/media \
 && chown app:app /app/staticfiles /app/media

USER app

EXPOSE 8000

CMD ["gunicorn", "releasemgmt.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]

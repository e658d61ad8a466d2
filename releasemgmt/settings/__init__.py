"""Settings for development and tests; everything comes from the environment.

``DATABASE_URL`` selects PostgreSQL (or anything dj-database-url reads); with
none, a SQLite file beside the project. ``CELERY_BROKER_URL`` (or
``REDIS_URL``) selects a Redis broker; with none, tasks run in process, so
``make run`` needs nothing but Python. ``releasemgmt.settings.production``
builds on this module for deployments.
"""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
# Former secret keys, still accepted for what they signed or sealed (sessions,
# vendor integration secrets): rotate by moving the old key here.
SECRET_KEY_FALLBACKS = [k for k in os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "").split(",") if k]
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    # Login throttling: failed logins per username and IP (see AXES_* below).
    "axes",
    "csp",
    # htmx requests (request.htmx) and the vendored htmx script, served from static.
    "django_htmx",
    # CMDB and RFC import and export (releasemgmt.imports): its admin templates.
    "import_export",
    # Security signal handlers (revocation on deactivation); no models.
    "releasemgmt.apps.ReleaseMgmtConfig",
    "cmdb",
    "changes",
    "releases",
    # Evidence files on step records, RFCs and problems (the audit export reads them).
    "evidence",
    # Concerns built on the release process (which never imports them).
    "calendars",
    "notifications",
    "audit",
    "reports",
    "pipelines",
    # Single sign-on with OpenID Connect (SSO below); inert while OIDC_ISSUER is unset.
    "sso",
    "webhooks",
]

MIDDLEWARE = [
    # /healthz and /readyz for orchestrators, before host checks and the HTTPS redirect (releasemgmt.health).
    "releasemgmt.health.HealthMiddleware",
    # /metrics for Prometheus (token or network), and every request timed by its route (releasemgmt.monitoring).
    "releasemgmt.monitoring.MetricsMiddleware",
    # First, so every log line of the request (and the 500 page) carries its id.
    "releasemgmt.security.CorrelationIdMiddleware",
    # Which door the request came through (API, UI, admin, feed): refused
    # attempts and signatures name it.
    "releasemgmt.entrypoints.EntryPointMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # API responses are per user (or a credential): never stored by a cache.
    "releasemgmt.security.ApiNoStoreMiddleware",
    # Hostile input meets a clear 400 or 413 here, before any view: an
    # oversized body, a control character in the path, query or a form.
    "releasemgmt.input_guard.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A signed decision of a single sign-on user without a fresh sign-in: off to the provider, then back.
    "sso.middleware.SignAtProviderMiddleware",
    # request.htmx: a form posted in place answers with its fragment, not the whole page.
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the request user on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "releasemgmt.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sso.context_processors.signing",
            ],
        },
    },
]

WSGI_APPLICATION = "releasemgmt.wsgi.application"
ASGI_APPLICATION = "releasemgmt.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The largest request body accepted (the project takes no file uploads):
# beyond it 413, before the body is read (releasemgmt.input_guard). JSON
# bodies nest at most JSON_MAX_DEPTH levels.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(2_621_440)))
JSON_MAX_DEPTH = 32

# --- evidence files (evidence.files, evidence.services) ---
# Stored through Django's storage API ("default"): files under MEDIA_ROOT,
# which nothing serves (there is no MEDIA_URL route: evidence.views applies
# the record's authorization to every download); or, with EVIDENCE_S3_BUCKET,
# a private bucket of any S3-compatible store (django-storages, the `s3` extra).
MEDIA_ROOT = os.environ.get("MEDIA_ROOT") or BASE_DIR / "media"
EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(20 * 1024 * 1024)))
EVIDENCE_ALLOWED_TYPES = [e.strip().lower().lstrip(".") for e in os.environ.get(
    "EVIDENCE_ALLOWED_TYPES", "pdf,png,jpg,jpeg,gif,txt,log,md,csv,json,xml,yaml,yml,zip,gz,docx,xlsx").split(",")
    if e.strip()]
# The paths whose multipart POSTs may carry a file (up to EVIDENCE_MAX_BYTES
# beyond the body limit; releasemgmt.input_guard).
FILE_UPLOAD_PATHS = ("/api/evidence/", "/evidence/attach/")
# Each uploaded file's SHA-256 is taken as it streams in (evidence.files).
FILE_UPLOAD_HANDLERS = ["evidence.files.HashingMemoryFileUploadHandler",
                        "evidence.files.HashingTemporaryFileUploadHandler"]
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700


def _default_storage() -> dict:
    bucket = os.environ.get("EVIDENCE_S3_BUCKET", "")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    options = {"bucket_name": bucket, "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
               "location": os.environ.get("EVIDENCE_S3_PREFIX", "")}
    for option, name in (("endpoint_url", "EVIDENCE_S3_ENDPOINT_URL"), ("region_name", "EVIDENCE_S3_REGION"),
                         ("access_key", "EVIDENCE_S3_ACCESS_KEY_ID"), ("secret_key", "EVIDENCE_S3_SECRET_ACCESS_KEY")):
        if os.environ.get(name):
            options[option] = os.environ[name]
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


STORAGES = {
    "default": _default_storage(),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

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
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only deployments collect static files (production sets it); in development
# WhiteNoise serves them from the finders.
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or None

# The browser UI logs in at /accounts/login/ (Django admin keeps its own login page).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
if os.environ.get("EMAIL_FILE_PATH"):  # for the file-based backend
    EMAIL_FILE_PATH = os.environ["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "releases@localhost")
# The SMTP server (production's default backend): its host and port, the
# account it is logged in with, and STARTTLS (EMAIL_USE_TLS, port 587) or TLS
# from the first byte (EMAIL_USE_SSL, port 465); never both.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL (implicit TLS), not both.")
# A hung mail server must not outlast the outbox lease (OUTBOX_LEASE_SECONDS):
# another relay would take the message over while it is still being sent.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "20"))
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
# A rendered iCalendar feed is kept until calendar data changes
# (calendars.cache); this bounds how long a worker that does not share
# the cache (local memory, several workers) may serve it after a change.
CALENDAR_FEED_CACHE_SECONDS = int(os.environ.get("CALENDAR_FEED_CACHE_SECONDS", "60"))
# Likewise the release list's page count (releases.counts).
LIST_COUNT_CACHE_SECONDS = int(os.environ.get("LIST_COUNT_CACHE_SECONDS", "60"))

# --- Security -------------------------------------------------------------------
# What does not depend on TLS holds in development and tests too, so the
# browser tests run under the production policy. production.py adds HSTS,
# Secure cookies and the HTTPS redirect.

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: a link to a release from a notification e-mail must open
# it logged in; Lax still withholds the cookie from cross-site POSTs.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(12 * 3600)))
# No script of ours reads the CSRF cookie: forms carry the token, and the
# Swagger UI gets it rendered into its script.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# Sessions live in the database (the default backend, named here because
# revoking a user's sessions deletes their rows).
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Content-Security-Policy (django-csp 4): nothing inline, nothing from
# elsewhere. Templates that need per-page styles put them in a <style> with
# the request's nonce.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        # Swagger UI draws some icons from data: URIs.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins for
# one username from one IP address, that pair is locked out for the cool-off
# time (the UI login, the admin login and the API token endpoint alike).
# Single sign-on (OpenID Connect, the sso app): on when OIDC_ISSUER is set;
# sso.config parses and checks every OIDC_* variable. With LOCAL_LOGIN_ENABLED
# off, no password logs in or signs (the UI, the admin, the API token endpoint).
from sso.config import OidcConfig  # noqa: E402

SSO = OidcConfig.from_env(os.environ)
LOCAL_LOGIN_ENABLED = env_bool("LOCAL_LOGIN_ENABLED", True)
if not LOCAL_LOGIN_ENABLED and SSO is None:
    raise ImproperlyConfigured("LOCAL_LOGIN_ENABLED is off and OIDC_ISSUER is unset: nobody could log in.")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_LOGIN_ENABLED else []),
    # Answers only the single sign-on callback (and keeps the group permissions when passwords are off).
    "sso.backends.OidcBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "releasemgmt.security.lockout_response"
# The lock-out and the API rate limit key on the same client address.
AXES_CLIENT_IP_CALLABLE = "releasemgmt.security.client_address"

# Reverse proxies in front of the app whose X-Forwarded-For is believed: 0
# (the default) when clients reach the app directly, 1 behind one proxy (a
# load balancer, nginx), and so on. The app must then be reachable only
# through them. releasemgmt.security.client_address reads it per request.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
if TRUSTED_PROXY_COUNT < 0:
    raise ValueError("TRUSTED_PROXY_COUNT must be 0 or more")

# The cache holds the API rate-limit counters, rendered calendar feeds and
# list counts: Redis when configured, so every gunicorn worker counts the same
# requests; per process memory otherwise.
CACHE_URL = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL") or ""
# How long one cache call may wait for Redis, and how long a process then
# runs without the cache before it asks Redis again (releasemgmt.cache).
CACHE_TIMEOUT_SECONDS = float(os.environ.get("CACHE_TIMEOUT_SECONDS", "0.25"))
CACHE_BREAKER_SECONDS = float(os.environ.get("CACHE_BREAKER_SECONDS", "5"))
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "releasemgmt.cache.ResilientRedisCache", "LOCATION": CACHE_URL,
                          "KEY_PREFIX": "releasemgmt",
                          "OPTIONS": {"socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
                                      "socket_timeout": CACHE_TIMEOUT_SECONDS,
                                      "breaker_seconds": CACHE_BREAKER_SECONDS}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # A pipeline's gate token (Bearer): its service account on the
        # gate's routes; recognised everywhere else to be refused (403, kept).
        "pipelines.auth.GateTokenAuthentication",
    ],
    # A login, and for a read some role in the process (releasemgmt.authz).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated",
                                   "releasemgmt.api_permissions.ProcessReader"],
    "DEFAULT_SCHEMA_CLASS": "releasemgmt.api_schema.ApiAutoSchema",
    # DRF's parsers under the input rules: body size, JSON depth and numbers,
    # no control characters (releasemgmt.input_guard).
    "DEFAULT_PARSER_CLASSES": [
        "releasemgmt.input_guard.JSONParser",
        "releasemgmt.input_guard.FormParser",
        "releasemgmt.input_guard.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "releasemgmt.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "releasemgmt.api.StandardPagination",
    "PAGE_SIZE": 50,
    # Per token (per user for a session, per IP address when anonymous); a
    # 429 carries Retry-After. An empty rate turns that limit off.
    "DEFAULT_THROTTLE_CLASSES": ["releasemgmt.security.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api": os.environ.get("API_THROTTLE_RATE", "1200/minute") or None,
        "anon": os.environ.get("API_ANON_THROTTLE_RATE", "120/minute") or None,
    },
}

# The API contract keeps the schema open so integrators can generate a client
# before they hold a token; production (which maps the whole API for whoever
# asks) requires a login unless a deployment opts back in.
API_SCHEMA_PUBLIC = env_bool("API_SCHEMA_PUBLIC", True)

SPECTACULAR_SETTINGS = {
    "TITLE": "Release and Deployment Management API",
    "DESCRIPTION": "Drive the 20-step ITIL release process: RFCs, releases, their step records, tasks, "
                   "the CMDB. Transitions are named as in the process contract.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Who may read the schema and docs: releasemgmt.security.SchemaAccess,
    # from API_SCHEMA_PUBLIC below.
    "SERVE_PERMISSIONS": ["releasemgmt.security.SchemaAccess"],
    # Served from static/ by the sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LevelEnum": "changes.choices.Level",
                            "DeploymentOutcomeEnum": "releases.choices.DeploymentOutcome"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "releasemgmt.api_schema.nullable_references"],
}

# Celery: a Redis broker when one is configured; otherwise tasks run in the
# calling process so a laptop needs nothing but Python.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or ""
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Where the admin keeps an uploaded import file (CMDB, RFCs) between its
# preview and its confirmation: a local temporary folder, unless web
# processes on several hosts need a place they share, e.g.
# import_export.tmp_storages.MediaStorage (the default file storage).
IMPORT_EXPORT_TMP_STORAGE_CLASS = os.environ.get("IMPORT_EXPORT_TMP_STORAGE_CLASS",
                                                 "import_export.tmp_storages.TempFolderStorage")
# /metrics: a bearer token, or (with none) the networks that may read it.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [n.strip() for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
                            .split(",") if n.strip()]
# How long /readyz waits for the broker before calling the process unready.
HEALTH_BROKER_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_BROKER_TIMEOUT_SECONDS", "2"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # The relay delivers the outbox. Requests never publish to the broker, so
    # the web app keeps answering while Redis is down; the backlog goes out
    # when it is back.
    "relay-outbox": {"task": "releases.tasks.deliver_outbox",
                     "schedule": float(os.environ.get("OUTBOX_RELAY_SECONDS", "5"))},
    "reminders": {"task": "releases.tasks.send_reminders", "schedule": 15 * 60.0},
    # The daily digest of what landed in each queue, for those who asked for
    # one (notifications.queue), at QUEUE_DIGEST_HOUR (UTC).
    # The deployments GitHub and GitLab asked about while the gate said
    # "awaiting": asked again, and answered once it decides (pipelines.adapters).
    "adapter-checks": {"task": "pipelines.tasks.answer_adapter_checks",
                       "schedule": float(os.environ.get("ADAPTER_POLL_SECONDS", "30"))},
    "queue-digests": {"task": "notifications.queue.send_queue_digests",
                      "schedule": crontab(minute=0, hour=int(os.environ.get("QUEUE_DIGEST_HOUR", "7")))},
}
# How long a relay holds a message it is sending (notifications.tasks): past it the
# message is due again, so a worker killed mid-send delays it by this much and
# repeats at most that one message. Longer than EMAIL_TIMEOUT and the webhook
# timeout, so a slow send is not taken over while it still runs.
OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "60"))

# Vendor integration secrets: after a rotation the previous secret still
# verifies inbound updates for this long, so the vendor can switch over.
VENDOR_SECRET_OVERLAP_HOURS = float(os.environ.get("VENDOR_SECRET_OVERLAP_HOURS", "24"))

# The deployment gate (pipelines): the environments whose deployments need
# a release that may deploy now (its names as the pipelines give them,
# comma-separated, compared without case). Any other environment is allowed
# at once.
GATED_ENVIRONMENTS = tuple(e.strip().lower() for e in os.environ.get("GATE_ENVIRONMENTS", "production").split(",")
                           if e.strip())
# The GitHub and GitLab adapters: how often a deployment the gate answers
# "awaiting" is asked about again, and how long before it is rejected.
ADAPTER_POLL_SECONDS = float(os.environ.get("ADAPTER_POLL_SECONDS", "30"))
ADAPTER_MAX_WAIT_HOURS = float(os.environ.get("ADAPTER_MAX_WAIT_HOURS", "24"))

# Event subscriptions (webhooks): deliveries go to public addresses only,
# unless this allows private, loopback and reserved ones (an installation
# whose tools run on its own network); how long a subscriber may take to answer
# (below OUTBOX_LEASE_SECONDS).
WEBHOOK_ALLOW_PRIVATE_URLS = os.environ.get("WEBHOOK_ALLOW_PRIVATE_URLS", "").lower() in ("1", "true", "yes")
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))

# History is evidence: nobody "reverts" an object to an old version (that
# would rewrite states without a transition).
SIMPLE_HISTORY_REVERT_DISABLED = True

# CAB quorum: approve votes a normal plan needs (emergency: one ECAB vote).
RELEASE_CAB_QUORUM = int(os.environ.get("RELEASE_CAB_QUORUM", "2"))

# ``text`` (a line a person reads) or ``json`` (one object per line, for a
# log collector): both carry the request's correlation id.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT is text or json, not {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names the request it belongs to (the id a 500 page shows).
    "filters": {"correlation_id": {"()": "releasemgmt.security.CorrelationIdFilter"}},
    "formatters": {
        "default": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
        # The same fields as keys, plus what a record carries beyond them (a
        # response's status code, a traceback as exc_info), never split over lines.
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(correlation_id)s %(message)s",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["correlation_id"],
                             "formatter": "json" if LOG_FORMAT == "json" else "default"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # One line per task run is noise when tasks run in process.
    "loggers": {"celery.app.trace": {"level": "WARNING"},
                # Failures and lock-outs are warnings; its INFO lines (a banner
                # per command, a clean-up per attempt) are noise.
                "axes": {"level": "WARNING"}},
}

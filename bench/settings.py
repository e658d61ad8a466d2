"""The benchmark's settings: production, plus the floor views' URLs and a
query-counting middleware, minus API throttling (the load generator is one
client hammering the API; throttles would measure the limiter, not the app).

Needs what production needs: DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, and
DJANGO_SECURE_SSL_REDIRECT=false on loopback (``bench.run`` sets them).
"""
import os

from releasemgmt.settings.production import *  # noqa: F401,F403
from releasemgmt.settings.production import DATABASES, MIDDLEWARE, REST_FRAMEWORK

ROOT_URLCONF = "bench.urls"

REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": [], "DEFAULT_THROTTLE_RATES": {}}

# First, so it counts every query of the request, the middleware's included.
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]

# A production deployment keeps database connections open between requests
# (DB_CONN_MAX_AGE); the benchmark does too unless told otherwise.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", "60"))

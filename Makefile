# Release and Deployment Management: local development and tests.
#
#   make run    create .venv, install, migrate, seed demo data, serve on 127.0.0.1:8000
#   make test   create .venv, install, run pytest (PYTEST_ARGS='-k cab -x' passes options)
#   make test-production  the security tests again under the production settings
#               (PostgreSQL: DATABASE_URL=postgres://...)
#   make bench  seed 100k releases / 1M tasks into PostgreSQL, serve with gunicorn,
#               measure each endpoint beside its floor view (bench/README.md)
#
# Only Python 3.11+ and GNU make are needed: the defaults are a SQLite file
# and Celery tasks run in process. Set DATABASE_URL / CELERY_BROKER_URL to use
# PostgreSQL and Redis instead (see README, "Configuration").

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-production migrate seed lint clean bench bench-quick bench-import

help:
	@echo "make run      install, migrate, seed demo users and data, serve on http://$(HOST):$(PORT)/"
	@echo "make test     install and run the test suite (PYTEST_ARGS='...' passes options to pytest)"
	@echo "make test-production  the security tests under releasemgmt.settings.production on PostgreSQL"
	@echo "              (DATABASE_URL=postgres://...; what CI runs after make test)"
	@echo "make migrate  apply database migrations"
	@echo "make seed     load the demo users and data (manage.py seed_demo)"
	@echo "make bench    seed 100k releases in PostgreSQL, serve with gunicorn, measure (how long it takes: bench/README.md)"
	@echo "make bench-quick  the same at a tenth of the size, shorter phases"
	@echo "make bench-import  time the CMDB import of 5,000 CIs with dependencies (bench/cmdb_import.py)"
	@echo "make lint     Django system checks and a check for missing migrations"
	@echo "make clean    remove $(VENV) and db.sqlite3"

# The virtualenv, from whatever python3 is on PATH (3.11 or newer).
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "Python 3.11 or newer is required; '$(PYTHON)' is: $$($(PYTHON) --version 2>&1)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(PY)
	$(BIN)/pip install --disable-pip-version-check --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: seed
	@echo
	@echo "  Log in at http://$(HOST):$(PORT)/ as release_manager / demo-pass-2026 (admin: /admin/)"
	@echo "  (one user per role, plus superuser admin: see README, Demo users)"
	@echo
	$(PY) manage.py runserver $(HOST):$(PORT)

# pytest exits 5 when it collected no test: that fails the target too.
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; fi; exit $$rc; }

# The security tests again, as a deployment runs: releasemgmt.settings.production
# (DEBUG off, HTTPS only, HSTS, Secure cookies, the schema behind a login,
# SMTP mail, manifest static files) with the environment a deployment gives
# it, static files collected first, on a test database that `migrate` creates
# under these settings. Only what weakens production is cleared from the
# caller's environment; tests never send mail (Django's test set-up keeps it
# in memory, and so does EMAIL_BACKEND for the servers tests start).
# TEST_DATABASE_NAME, if set, gets the suffix _prod.
PRODUCTION_TESTS ?= tests/security
test-production: $(STAMP)
	@case "$${DATABASE_URL:-}" in postgres://*|postgresql://*) ;; \
	  *) echo "make test-production needs PostgreSQL: set DATABASE_URL=postgres://..." >&2; exit 2;; esac
	@set -e; \
	unset DJANGO_DEBUG DJANGO_SECURE_SSL_REDIRECT DJANGO_HSTS_SECONDS API_SCHEMA_PUBLIC; \
	export DJANGO_SETTINGS_MODULE=releasemgmt.settings.production \
	  DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  DJANGO_ALLOWED_HOSTS=releases.example.com \
	  DJANGO_CSRF_TRUSTED_ORIGINS=https://releases.example.com \
	  EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend \
	  TEST_DATABASE_NAME="$${TEST_DATABASE_NAME:-test_releasemgmt}_prod"; \
	$(PY) manage.py collectstatic --noinput -v0; \
	$(PY) -m pytest --ds=releasemgmt.settings.production --create-db $(PRODUCTION_TESTS) $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; fi; exit $$rc; }

# The benchmark's own dependencies (load tools, profilers) come with the bench extra.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(PY)
	$(BIN)/pip install --disable-pip-version-check --quiet -e '.[dev,bench]'
	@touch $@ $(STAMP)

# DATABASE_URL, if set, must name an empty database; otherwise a throwaway
# PostgreSQL cluster is started (Debian's postgresql package). BENCH_ARGS='...'
# passes options to bench/run.py (e.g. --only 'release list' --seed 3).
BENCH_ARGS ?=
bench: $(BENCH_STAMP)
	$(PY) -m bench.run --scale 1.0 $(BENCH_ARGS)

# The CMDB import (manage.py import_cmdb) on 5,000 CIs with dependencies, on
# DATABASE_URL's PostgreSQL or SQLite without it, in a test database it drops.
bench-import: $(STAMP)
	$(PY) -m bench.cmdb_import --cis 5000

bench-quick: $(BENCH_STAMP)
	$(PY) -m bench.run --scale 0.1 --fixed-seconds 10 --max-seconds 5 $(BENCH_ARGS)

lint: $(STAMP)
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3

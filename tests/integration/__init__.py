"""Integration tests against real services: PostgreSQL, a redis-server and Celery processes."""

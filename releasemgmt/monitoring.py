"""Prometheus metrics for operators, at ``/metrics``: request latency by
route, transitions performed per model and name, and what the concerns
register (the outbox's backlog, the age of its oldest pending message and
its failed deliveries: ``notifications.metrics``).

Who may read them: a caller presenting ``METRICS_TOKEN`` as a bearer token,
or, with no token set, a caller from ``METRICS_ALLOWED_NETWORKS`` (loopback
by default). Anyone else gets a 404, as for a page that does not exist. The
endpoint is answered by the first middleware, before host checks and the
HTTPS redirect: a scraper asks over the internal network with the address
it knows.

Several processes (gunicorn workers): set ``PROMETHEUS_MULTIPROC_DIR`` to a
directory the workers share, emptied at start, as the prometheus client
asks; each scrape then sums every worker's counters. The figures read from
the database at scrape time are the same whichever worker answers.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import time
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import REGISTRY

PATH = "/metrics"
# A label per method a client invents would be a series per invention.
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUEST_SECONDS = Histogram(
    "releasemgmt_request_seconds", "Time to answer a request, by route (URL pattern), method and status class.",
    ["route", "method", "status"], buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
TRANSITIONS = Counter("releasemgmt_transitions", "Transitions performed (committed), by model and name.",
                      ["model", "name"])

# Collectors that read the database at scrape time, registered by the
# concerns that own the tables (notifications.apps).
_COLLECTORS: list = []


def register(collector) -> None:
    if collector not in _COLLECTORS:
        _COLLECTORS.append(collector)
        REGISTRY.register(collector)


def count_transition(event) -> None:
    """``releasemgmt.events`` listener: count a transition once its
    transaction commits (a rolled-back one did not happen)."""
    if event.is_transition:
        labels = (event.obj._meta.label_lower, event.name)
        transaction.on_commit(lambda: TRANSITIONS.labels(*labels).inc())


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS)


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _COLLECTORS:
            registry.register(collector)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class MetricsMiddleware:
    """Answers ``/metrics``, and times every other request by its route."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == PATH:
            if not _allowed(request):
                return HttpResponseNotFound()
            return HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The URL pattern, never the path itself: ids would make a series per object.
        route = match.route if match is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        REQUEST_SECONDS.labels(route or "/", method, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started)
        return response

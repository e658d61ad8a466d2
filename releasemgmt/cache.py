"""The cache backend for Redis: a slow or hung Redis costs a request at most
one short timeout, never a stall, and never an error.

Everything the cache holds here can be recomputed (rate-limit counters,
rendered calendar feeds, list counts, generation tokens), so while Redis does
not answer the app runs as if it had no cache:

- every call waits at most ``socket_timeout`` (a few hundred milliseconds,
  ``CACHE_TIMEOUT_SECONDS``), and redis-py does not retry it;
- a call that fails opens a circuit breaker: for ``breaker_seconds``
  (``CACHE_BREAKER_SECONDS``) every call in this process skips Redis and
  answers as a cache that holds nothing would (a miss, nothing stored);
- after that one call goes through as a probe while the others keep
  skipping; if it succeeds the breaker closes, otherwise it opens again.

The breaker is per process (gunicorn worker, Celery worker): each finds out
for itself, at the price of one timeout per process and breaker period.
"""
from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

_monotonic = time.monotonic  # the breaker's clock (a test may replace it)
_SKIPPED = object()  # what a guarded call returns when Redis was not asked or did not answer


class CircuitBreaker:
    """Closed, open until a moment, or half-open with one probe in flight.

    Thread-safe without serialising the calls it guards: the lock is held
    only to read and change the state, never during a call to Redis."""

    CLOSED, CALL, PROBE = "closed", "call", "probe"

    def __init__(self, name: str, open_seconds: float):
        self.name = name
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def admit(self) -> str | None:
        """``CALL`` or ``PROBE`` when the call may go to Redis; None to skip it."""
        if self._open_until is None:  # closed: no lock on the common path
            return self.CALL
        with self._lock:
            if self._open_until is None:
                return self.CALL
            if self._probing or _monotonic() < self._open_until:
                return None
            self._probing = True
            return self.PROBE

    def succeeded(self, admitted: str) -> None:
        # Only a probe closes the breaker: a call admitted before the failure
        # that opened it says nothing about Redis now.
        if admitted != self.PROBE:
            return
        with self._lock:
            self._open_until, self._probing = None, False
        log.warning("Cache %s answers again: using it.", self.name)

    def failed(self, admitted: str, error: BaseException) -> None:
        with self._lock:
            newly = self._open_until is None
            self._open_until = _monotonic() + self.open_seconds
            if admitted == self.PROBE:
                self._probing = False
        if newly:
            log.warning("Cache %s unavailable (%s: %s): running without it for %.0f s at a time.",
                        self.name, type(error).__name__, error, self.open_seconds)


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(location: str, open_seconds: float) -> CircuitBreaker:
    """One breaker per Redis location and process. Django makes a cache
    backend per thread; the breaker must be shared by all of them."""
    with _breakers_lock:
        breaker = _breakers.get(location)
        if breaker is None or breaker.open_seconds != open_seconds:
            breaker = _breakers[location] = CircuitBreaker(_without_credentials(location), open_seconds)
        return breaker


def _without_credentials(location: str) -> str:
    """The location for log lines: a Redis URL may carry a password."""
    parts = urlsplit(location)
    if parts.password is None and parts.username is None:
        return location
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


class ResilientRedisCache(RedisCache):
    """Django's ``RedisCache`` behind a circuit breaker, with short timeouts
    and no retries. While Redis does not answer, reads miss, writes store
    nothing, ``add`` adds nothing and ``incr`` finds no key: each method
    answers as Django documents it for an empty cache that keeps nothing.

    ``OPTIONS``: ``breaker_seconds`` (how long to skip Redis after a failure)
    beside the redis-py connection options (``socket_timeout``,
    ``socket_connect_timeout``; both default to 0.25 s here)."""

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        open_seconds = float(options.pop("breaker_seconds", 5))
        options.setdefault("socket_timeout", 0.25)
        options.setdefault("socket_connect_timeout", options["socket_timeout"])
        # A retried call would wait the timeout again.
        options.setdefault("retry", Retry(NoBackoff(), 0))
        super().__init__(server, {**params, "OPTIONS": options})
        self.breaker = breaker_for(server if isinstance(server, str) else ",".join(server), open_seconds)

    def _guarded(self, call, *args, **kwargs):
        admitted = self.breaker.admit()
        if admitted is None:
            return _SKIPPED
        try:
            result = call(*args, **kwargs)
        except (OSError, redis.RedisError) as error:
            self.breaker.failed(admitted, error)
            return _SKIPPED
        self.breaker.succeeded(admitted)
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        result = self._guarded(super().add, key, value, timeout, version)
        return False if result is _SKIPPED else result

    def get(self, key, default=None, version=None):
        result = self._guarded(super().get, key, default, version)
        return default if result is _SKIPPED else result

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._guarded(super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        result = self._guarded(super().touch, key, timeout, version)
        return False if result is _SKIPPED else result

    def delete(self, key, version=None):
        result = self._guarded(super().delete, key, version)
        return False if result is _SKIPPED else result

    def get_many(self, keys, version=None):
        result = self._guarded(super().get_many, keys, version)
        return {} if result is _SKIPPED else result

    def has_key(self, key, version=None):
        result = self._guarded(super().has_key, key, version)
        return False if result is _SKIPPED else result

    def incr(self, key, delta=1, version=None):
        result = self._guarded(super().incr, key, delta, version)
        if result is _SKIPPED:
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).")
        return result

    def hit(self, key, seconds: float, version=None) -> int | None:
        """One more hit on the counter ``key``, which lives ``seconds`` from
        its first hit; returns the count, or None while Redis does not answer.
        INCR and the first EXPIRE go in one pipeline: one round trip."""
        result = self._guarded(self._hit, key, seconds, version)
        return None if result is _SKIPPED else result

    def _hit(self, key, seconds, version):
        key = self.make_and_validate_key(key, version=version)
        pipe = self._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, max(1, int(seconds)), nx=True)
        count, _ = pipe.execute()
        return int(count)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        """The keys not stored, as Django's contract says: all of them when
        Redis was not asked or did not answer."""
        result = self._guarded(super().set_many, data, timeout, version)
        return list(data) if result is _SKIPPED else result

    def delete_many(self, keys, version=None):
        self._guarded(super().delete_many, keys, version)

    def clear(self):
        result = self._guarded(super().clear)
        return False if result is _SKIPPED else result


def hit(cache, key: str, seconds: float) -> int | None:
    """Count one more hit on ``key`` in ``cache`` (kept ``seconds`` from the
    first) and return the count, or None when the cache did not answer:
    one round trip on Redis (``ResilientRedisCache.hit``); ``add`` then
    ``incr`` on any other backend (local memory, in development)."""
    if isinstance(cache, ResilientRedisCache):
        return cache.hit(key, seconds)
    try:
        if cache.add(key, 1, seconds):
            return 1
        return cache.incr(key)
    except ValueError:  # expired between the two: this is the first hit again
        return 1 if cache.add(key, 1, seconds) else None
    except Exception:  # noqa: BLE001 - a cache that does not answer counts nothing
        log.warning("Cache unavailable: hit on %s not counted", key, exc_info=True)
        return None

"""The Redis cache backend (releasemgmt.cache): a failing call opens a
breaker, and for a while every call skips Redis and answers as an empty
cache would; then one probe goes through, and its outcome closes or reopens
the breaker. Against a real Redis stopped with SIGSTOP, a call waits at most
the socket timeout, once."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
import redis
from django.core.cache.backends.redis import RedisCacheClient

from releasemgmt import cache as resilient
from releasemgmt.cache import CircuitBreaker, ResilientRedisCache
from tests.helpers import free_port, unavailable


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(resilient, "_monotonic", fake)
    return fake


@pytest.fixture
def redis_calls(monkeypatch):
    """Replaces the Redis client's operations: each call is recorded and
    raises ``outcome["error"]`` when set."""
    calls = []
    outcome = {"error": None}

    def fake(name, result):
        def op(self, *args, **kwargs):
            calls.append(name)
            if outcome["error"] is not None:
                raise outcome["error"]
            return result(*args) if callable(result) else result
        return op

    for name, result in (("get", "value"), ("set", None), ("add", True), ("get_many", lambda keys: {k: 1 for k in keys}),
                         ("set_many", None), ("delete", True), ("has_key", True), ("incr", 2),
                         ("touch", True), ("delete_many", None), ("clear", True)):
        monkeypatch.setattr(RedisCacheClient, name, fake(name, result))
    return calls, outcome


def backend(breaker_seconds=5.0, location=None):
    location = location or f"redis://127.0.0.1:1/{time.monotonic_ns()}"  # a breaker of its own
    return ResilientRedisCache(location, {"OPTIONS": {"breaker_seconds": breaker_seconds}})


def test_a_failure_opens_the_breaker_and_calls_skip_redis_until_it_closes(clock, redis_calls):
    calls, outcome = redis_calls
    cache = backend(breaker_seconds=5)
    assert cache.get("k") == "value" and calls == ["get"]

    outcome["error"] = redis.TimeoutError("Timeout reading")
    assert cache.get("k", "default") == "default"
    assert calls == ["get", "get"] and cache.breaker.is_open

    # Open: nothing goes to Redis; each method answers as an empty cache.
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is False
    assert cache.set("k", 1) is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]  # not stored, says Django's contract
    assert cache.has_key("k") is False and cache.delete("k") is False and cache.touch("k") is False
    with pytest.raises(ValueError):
        cache.incr("k")
    assert calls == ["get", "get"]

    clock.now += 4.9
    assert cache.get("k") is None and calls == ["get", "get"]

    # After the period one call probes; Redis still fails: open again.
    clock.now += 0.2
    assert cache.get("k") is None and calls == ["get", "get", "get"]
    assert cache.get("k") is None and calls == ["get", "get", "get"]

    # Redis is back: the next probe succeeds and the breaker closes.
    outcome["error"] = None
    clock.now += 5.1
    assert cache.get("k") == "value"
    assert not cache.breaker.is_open
    assert cache.set_many({"a": 1}) == [] and cache.get_many(["k"]) == {"k": 1}
    assert calls == ["get", "get", "get", "get", "set_many", "get_many"]


def test_connection_errors_open_it_too_and_other_errors_are_not_hidden(clock, redis_calls):
    calls, outcome = redis_calls
    cache = backend()
    outcome["error"] = redis.ConnectionError("Error 111 connecting")
    assert cache.add("k", 1) is False and cache.breaker.is_open
    clock.now += 10
    outcome["error"] = TypeError("a bug in the caller, not an unavailable cache")
    with pytest.raises(TypeError):
        cache.get("k")


def test_while_one_probe_is_in_flight_the_other_threads_skip_redis(clock):
    breaker = CircuitBreaker("test", open_seconds=5)
    assert breaker.admit() == CircuitBreaker.CALL
    breaker.failed(CircuitBreaker.CALL, redis.TimeoutError("t"))
    assert breaker.admit() is None
    clock.now += 6
    assert breaker.admit() == CircuitBreaker.PROBE
    others = []
    threads = [threading.Thread(target=lambda: others.append(breaker.admit())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert others == [None] * 8
    # A call admitted before the failure that succeeds late does not close it.
    breaker.succeeded(CircuitBreaker.CALL)
    assert breaker.is_open
    breaker.succeeded(CircuitBreaker.PROBE)
    assert not breaker.is_open and breaker.admit() == CircuitBreaker.CALL


def test_every_thread_of_a_process_shares_the_breaker_of_a_location(redis_calls):
    location = f"redis://127.0.0.1:1/{time.monotonic_ns()}"
    made = []
    thread = threading.Thread(target=lambda: made.append(backend(location=location)))
    thread.start()
    thread.join()
    assert made[0].breaker is backend(location=location).breaker  # Django makes a backend per thread


def test_the_settings_use_it_with_short_timeouts_when_a_cache_url_is_set():
    import sys
    from pathlib import Path

    code = ("import django; django.setup(); from django.conf import settings as s; "
            "c = s.CACHES['default']; o = c['OPTIONS']; "
            "print(c['BACKEND'], o['socket_timeout'], o['socket_connect_timeout'], o['breaker_seconds'])")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "releasemgmt.settings", "CACHE_URL": "redis://127.0.0.1:6399/3",
           "CACHE_TIMEOUT_SECONDS": "0.3", "CACHE_BREAKER_SECONDS": "7"}
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["releasemgmt.cache.ResilientRedisCache", "0.3", "0.3", "7.0"]


# --- a real Redis, hung ------------------------------------------------------------------------


@pytest.fixture
def hung_redis(tmp_path):
    """A redis-server of our own, stopped with SIGSTOP after the test's first
    call; SIGCONT and SIGTERM afterwards, by its pid."""
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("needs the redis-server binary")
    port = free_port()
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port, socket_timeout=0.5).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


@pytest.mark.redis
def test_a_hung_redis_costs_one_short_timeout_then_nothing(hung_redis):
    url, proc = hung_redis
    cache = ResilientRedisCache(url, {"OPTIONS": {"socket_timeout": 0.2, "breaker_seconds": 1}})
    cache.set("k", "v")
    assert cache.get("k") == "v"
    os.kill(proc.pid, signal.SIGSTOP)

    started = time.monotonic()
    assert cache.get("k") is None  # waits for the timeout, once: no retry
    first = time.monotonic() - started
    assert 0.15 < first < 0.6
    started = time.monotonic()
    for _ in range(50):
        assert cache.get("k") is None
        assert cache.set_many({"a": 1}) == ["a"]
    assert time.monotonic() - started < 0.1  # the breaker is open: Redis is not asked

    os.kill(proc.pid, signal.SIGCONT)
    time.sleep(1.1)
    assert cache.get("k") == "v"  # the probe finds it back
    assert not cache.breaker.is_open


def test_its_log_lines_do_not_carry_the_redis_password(clock, redis_calls, caplog):
    calls, outcome = redis_calls
    cache = ResilientRedisCache(f"redis://:s3cret@127.0.0.1:1/{time.monotonic_ns()}", {})
    outcome["error"] = redis.ConnectionError("Error 111 connecting")
    cache.get("k")
    assert "unavailable" in caplog.text and "127.0.0.1:1/" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.redis
def test_a_rate_limit_hit_is_one_round_trip_that_counts_and_expires(hung_redis, monkeypatch):
    from releasemgmt.cache import hit

    url, _ = hung_redis  # not stopped here: a plain Redis of the test's own
    cache = ResilientRedisCache(url, {"OPTIONS": {"socket_timeout": 0.5}})
    cache.get("warm")  # the connection is open before counting
    sent = []
    real = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command",
                        lambda self, *a, **kw: sent.append(1) or real(self, *a, **kw))
    assert [hit(cache, "caller:1", 60) for _ in range(3)] == [1, 2, 3]
    assert len(sent) == 3  # one round trip a hit
    raw = redis.Redis.from_url(url)
    key = cache.make_and_validate_key("caller:1")
    assert 0 < raw.ttl(key) <= 60  # set by the first hit, not pushed back by the others
    raw.expire(key, 5)
    hit(cache, "caller:1", 60)
    assert raw.ttl(key) <= 5

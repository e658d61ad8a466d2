"""Results kept in the cache until the rows they were computed from change.

A *generation* is a token in the cache that every committed write to the
watched models replaces (post_save, post_delete and m2m_changed signals). A
result is stored under the generation read before computing it, so:

- a poll with nothing changed gets the stored result;
- a write that commits while a result is being computed from the older rows
  replaces the generation afterwards, and that result is never read again.

A write costs at most one round trip to the cache, whatever it saves: the
signals only note, in the thread that writes, which generations the open
transaction touched; when it commits, one ``set_many`` gives each of them a
fresh token. Until then the writing thread reads its own uncommitted rows,
which no other thread may be served: it works under a token of its own,
drawn anew at each write, which no other thread ever reads. A rolled-back
transaction leaves nothing to replace.

Where the cache is not shared between processes (the local-memory cache
with several workers), a worker may not see another's replacement: the
timeout given to ``cached`` bounds how long it serves an older result.
Production shares Redis. A cache that is down or hung means no caching,
never an error nor a wait beyond the backend's timeout (releasemgmt.cache);
a replacement that could not be written is written with the next one, and
until then this process computes that generation's results uncached.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from typing import Any, Callable

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

log = logging.getLogger(__name__)

ASKED_SECONDS = 24 * 3600  # how long "this key was asked for" is remembered (store_on_repeat)


class _Touched(threading.local):
    """Per thread and database: generation key -> the token this thread's
    open transaction works under."""

    def __init__(self):
        self.by_alias: dict[str, dict[str, str]] = {}


_touched = _Touched()
# Replacements the cache did not take (it was down): key -> token, per process.
_unwritten: dict[str, str] = {}
_unwritten_lock = threading.Lock()


def _open_transaction_tokens(using: str = DEFAULT_DB_ALIAS) -> dict[str, str]:
    """The generations this thread's open transaction on ``using`` touched.
    Outside a transaction nothing is pending: whatever is left was rolled
    back (a commit takes it), so it is dropped."""
    pending = _touched.by_alias.get(using)
    if pending and not connections[using].in_atomic_block:
        pending.clear()
    return pending or {}


def _write_replacements(using: str) -> None:
    """``on_commit``: one round trip for every generation the transaction
    touched (and any replacement the cache missed before). The callbacks
    registered after the first find nothing left to write."""
    touched = _touched.by_alias.pop(using, None)
    if touched:
        _write({key: uuid.uuid4().hex for key in touched})


def _write(fresh: dict[str, str]) -> bool:
    """Store ``fresh`` tokens, with the replacements the cache missed
    before, in one ``set_many``; whether the cache took them."""
    with _unwritten_lock:
        missed_before = dict(_unwritten)
    tokens = {**missed_before, **fresh}
    if not tokens:
        return True
    try:
        missed = set(cache.set_many(tokens, None) or ())
    except Exception:  # noqa: BLE001 - a backend that raises (Django's own RedisCache)
        missed = set(tokens)
    if missed and not missed_before:
        log.warning("Cache unavailable: generations not replaced; written with the next write that reaches it.")
    with _unwritten_lock:
        for key, token in tokens.items():
            if key in missed:
                _unwritten[key] = token
            elif key in missed_before and _unwritten.get(key) == missed_before[key]:
                del _unwritten[key]
    return not missed


class Generation:
    def __init__(self, name: str, *, unseen_fields=()):
        """``unseen_fields``: saves that write only these fields (such as a
        user's ``last_login`` at every login) change nothing cached here."""
        self.name = name
        self.key = f"generation:{name}"
        self.unseen_fields = frozenset(unseen_fields)

    def current(self) -> str | None:
        """The token results are stored under now; None: compute uncached."""
        if own := _open_transaction_tokens().get(self.key):
            return own
        # Replacements the cache missed go first, as soon as it answers
        # again; while it misses ours, it may hold results from before it.
        if _unwritten and not _write({}) and self.key in _unwritten:
            return None
        try:
            token = cache.get(self.key)
            if token is None:
                fresh = uuid.uuid4().hex
                token = fresh if cache.add(self.key, fresh, None) else cache.get(self.key)
            return token
        except Exception:  # noqa: BLE001 - no cache: nothing is cached
            log.warning("Cache unavailable: %s results are computed uncached.", self.name, exc_info=True)
            return None

    def changed(self, **kwargs) -> None:
        """Signal receiver for a write to a watched model: no cache call here."""
        update_fields = kwargs.get("update_fields")
        if update_fields and set(update_fields) <= self.unseen_fields:
            return
        using = kwargs.get("using") or DEFAULT_DB_ALIAS
        pending = _open_transaction_tokens(using)
        if not pending:
            pending = _touched.by_alias.setdefault(using, {})
        # A token of this transaction's own, new at each write: what it
        # computed before this write is not served after it.
        pending[self.key] = uuid.uuid4().hex
        # Outside a transaction this runs at once. Registered at every write
        # (the first one to run writes them all, the others find nothing), so
        # that a savepoint rolled back with its callback loses nothing.
        transaction.on_commit(lambda: _write_replacements(using), using=using)

    def watch(self, *models, m2m=()) -> None:
        for model in models:
            label = model._meta.label
            post_save.connect(self.changed, sender=model, weak=False, dispatch_uid=f"{self.key}:save:{label}")
            post_delete.connect(self.changed, sender=model, weak=False, dispatch_uid=f"{self.key}:delete:{label}")
        for through in m2m:
            m2m_changed.connect(self.changed, sender=through, weak=False,
                                dispatch_uid=f"{self.key}:m2m:{through._meta.label}")

    def cached(self, key_parts: tuple, compute: Callable[[], Any], timeout: int, *,
               store_on_repeat: bool = False) -> Any:
        """``compute()``, or what it returned for ``key_parts`` in this generation.

        With ``store_on_repeat`` a result is stored only when the same key is
        asked for a second time within ``timeout``: for large results (a feed
        of several MB), so that a client walking through ever new keys
        (windows, filters) does not fill the cache with results no one asks
        for again, while a polled URL is served from the cache from its third
        request on."""
        token = self.current()
        if token is None:
            return compute()
        key = f"{self.name}:" + hashlib.sha1(repr((token, key_parts)).encode()).hexdigest()
        try:
            hit = cache.get(key)
        except Exception:  # noqa: BLE001
            hit = None
        if hit is not None:
            return hit
        value = compute()
        try:
            # cache.add is true when the marker was not there: a first request.
            # The marker outlives the result, so that once the result expires
            # a polled URL is stored again at its next request.
            if not (store_on_repeat and cache.add(f"{key}:asked", True, ASKED_SECONDS)):
                cache.set(key, value, timeout)
        except Exception:  # noqa: BLE001
            log.warning("Cache unavailable: a %s result was not stored.", self.name, exc_info=True)
        return value

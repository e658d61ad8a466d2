"""Results kept in the cache until the rows they were computed from change.

A *generation* is a token in the cache that every committed write to the
watched models replaces (post_save, post_delete and m2m_changed signals). A
result is stored under the generation read before computing it, so:

- a poll with nothing changed gets the stored result;
- a write that commits while a result is being computed from the older rows
  replaces the generation afterwards, and that result is never read again.

The generation is replaced twice per write: at once, so a request (or a test,
which never commits) reads its own writes, and when the write commits, which
is the replacement the reasoning above needs.

Where the cache is not shared between processes (the local-memory cache
with several workers), a worker may not see another's replacement: the
timeout given to ``cached`` bounds how long it serves an older result.
Production shares Redis. A cache that is down means no caching, never an
error.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any, Callable

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

log = logging.getLogger(__name__)

ASKED_SECONDS = 24 * 3600  # how long "this key was asked for" is remembered (store_on_repeat)


class Generation:
    def __init__(self, name: str, *, unseen_fields=()):
        """``unseen_fields``: saves that write only these fields (such as a
        user's ``last_login`` at every login) change nothing cached here."""
        self.name = name
        self.key = f"generation:{name}"
        self.unseen_fields = frozenset(unseen_fields)

    def current(self) -> str | None:
        try:
            token = cache.get(self.key)
            if token is None:
                cache.add(self.key, uuid.uuid4().hex, None)
                token = cache.get(self.key)
            return token
        except Exception:  # noqa: BLE001 - no cache: nothing is cached
            log.warning("Cache unavailable: %s results are computed uncached.", self.name, exc_info=True)
            return None

    def replace(self) -> None:
        try:
            cache.set(self.key, uuid.uuid4().hex, None)
        except Exception:  # noqa: BLE001
            # Nothing can be stored while the cache is down; should it come
            # back holding an older result, the entries' timeout bounds that.
            log.warning("Cache unavailable: %s generation not replaced.", self.name, exc_info=True)

    def changed(self, **kwargs) -> None:
        """Signal receiver for a write to a watched model."""
        update_fields = kwargs.get("update_fields")
        if update_fields and set(update_fields) <= self.unseen_fields:
            return
        self.replace()
        transaction.on_commit(self.replace, using=kwargs.get("using"))

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

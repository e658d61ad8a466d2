"""Rendered iCalendar feeds, kept until the calendar's data changes.

Calendar clients and integrations poll the same feed URLs over and over. At
a few years of history a 90-day feed holds tens of thousands of events and
takes most of a second of CPU to render (bench/README.md), so each rendered
feed is cached under a *generation*: a token that every committed write to
data a feed shows replaces. A poll after a change misses and renders afresh;
a poll with nothing changed gets the stored bytes (or 304 when it sends the
ETag back).

The generation is read before rendering: a write that commits while a feed
renders replaces it afterwards, so the feed rendered from the older data is
stored under a generation no one reads again. Where the cache is not shared
between processes (the local-memory cache with several workers) a worker may
not see another's replacement; ``CALENDAR_FEED_CACHE_SECONDS`` bounds how long
it serves the older feed. Production shares Redis. Without a working cache,
every poll renders.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

log = logging.getLogger(__name__)

GENERATION_KEY = "calendar-feed-generation"


def _generation() -> str | None:
    try:
        current = cache.get(GENERATION_KEY)
        if current is None:
            cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
            current = cache.get(GENERATION_KEY)
        return current
    except Exception:  # noqa: BLE001 - a cache that is down means no caching, never an error
        log.warning("Cache unavailable: the calendar feed is rendered uncached.", exc_info=True)
        return None


def _replace_generation() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001
        # Without a cache there is no stored feed to go stale, unless the cache
        # comes back holding one: the entries' timeout bounds that.
        log.warning("Cache unavailable: calendar feed generation not replaced.", exc_info=True)


def data_changed(**kwargs) -> None:
    """Signal receiver: a write to calendar data replaces the generation now
    and again once its transaction commits. The second replacement is the one
    that matters: a feed rendered between the two from the data as it was
    before the commit is stored under the generation the first one made. The
    first keeps a request that writes and then reads in one transaction
    (and the tests, which never commit) from reading its own stale feed."""
    _replace_generation()
    transaction.on_commit(_replace_generation, using=kwargs.get("using"))


def cached_feed(key_parts: tuple, render: Callable[[], bytes]) -> tuple[bytes, str]:
    """The feed identified by ``key_parts`` (everything that selects its
    content: filters, window, name) and its ETag, rendered by ``render`` when
    the cache does not hold it for the current generation."""
    generation = _generation()
    key = None
    if generation is not None:
        digest = hashlib.sha1(repr((generation, settings.SITE_URL, key_parts)).encode()).hexdigest()
        key = f"calendar-feed:{digest}"
        try:
            hit = cache.get(key)
        except Exception:  # noqa: BLE001
            hit = None
        if hit is not None:
            return hit
    body = render()
    stored = (body, '"' + hashlib.sha1(body).hexdigest()[:32] + '"')
    if key is not None:
        try:
            cache.set(key, stored, settings.CALENDAR_FEED_CACHE_SECONDS)
        except Exception:  # noqa: BLE001
            log.warning("Cache unavailable: calendar feed not stored.", exc_info=True)
    return stored


def connect() -> None:
    """Watch every model whose rows a feed shows or filters by: releases and
    their plans, tasks and their assignees' names, freeze windows and the CIs
    they cover, scope (the per-CI feed), RFC requesters and team and vendor
    membership (the per-user feeds)."""
    from changes.models import ChangeRequest

    from .models import FreezeWindow, Release, ReleasePlan, ReleaseScopeItem, Task, Team, Vendor

    for model in (Release, ReleasePlan, Task, FreezeWindow, ReleaseScopeItem, Team, Vendor, ChangeRequest,
                  get_user_model()):
        post_save.connect(data_changed, sender=model, dispatch_uid=f"calendar-feed-save-{model._meta.label}")
        post_delete.connect(data_changed, sender=model, dispatch_uid=f"calendar-feed-delete-{model._meta.label}")
    for through in (Release.rfcs.through, FreezeWindow.cis.through, Team.members.through, Vendor.users.through):
        m2m_changed.connect(data_changed, sender=through, dispatch_uid=f"calendar-feed-m2m-{through._meta.label}")

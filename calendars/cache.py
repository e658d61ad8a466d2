"""Rendered iCalendar feeds, kept until the calendar's data changes.

Calendar clients and integrations poll the same feed URLs over and over, and
a feed over years of history holds many events and is costly to render
(figures in bench/README.md), so each rendered feed is kept under a
generation (releasemgmt.generations) that every committed write to data a
feed shows replaces: a poll after a change renders afresh; a poll with
nothing changed gets the stored bytes, or 304 when it sends the ETag back. A
feed is stored when it is asked for a second time.
``CALENDAR_FEED_CACHE_SECONDS`` bounds how long a worker that does not share
the cache may serve a feed after a change.
"""
from __future__ import annotations

import hashlib
from typing import Callable

from django.conf import settings
from django.contrib.auth import get_user_model

from changes.models import ChangeRequest
from releasemgmt.generations import Generation
from releases.models import FreezeWindow, Release, ReleasePlan, ReleaseScopeItem, Task, Team, Vendor

# Users are watched for their names; a login only writes last_login.
FEEDS = Generation("calendar-feed", unseen_fields={"last_login"})


def cached_feed(key_parts: tuple, render: Callable[[], bytes]) -> tuple[bytes, str]:
    """The feed identified by ``key_parts`` (everything that selects its
    content: filters, window, name) and its ETag, rendered by ``render`` when
    the cache does not hold it for the current generation."""

    def rendered():
        body = render()
        return body, '"' + hashlib.sha1(body).hexdigest()[:32] + '"'

    # Stored from the second request for the same feed: a polled URL is, a
    # client stepping through windows is not (several MB each at scale).
    return FEEDS.cached((settings.SITE_URL, *key_parts), rendered, settings.CALENDAR_FEED_CACHE_SECONDS,
                        store_on_repeat=True)


def connect() -> None:
    """Watch every model whose rows a feed shows or filters by: releases and
    their plans, tasks and their assignees' names, freeze windows and the CIs
    they cover, scope (the per-CI feed), RFC requesters and team and vendor
    membership (the per-user feeds)."""
    FEEDS.watch(Release, ReleasePlan, Task, FreezeWindow, ReleaseScopeItem, Team, Vendor, ChangeRequest,
                get_user_model(),
                m2m=(Release.rfcs.through, FreezeWindow.cis.through, Team.members.through, Vendor.users.through))

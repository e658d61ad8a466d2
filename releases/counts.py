"""The release list's page count, kept until the rows it counts change.

The exact count is the one part of the release list whose cost grows with
the table: an index-only scan of every matching release (bench/README.md
has the figures), where the page itself costs the same at any size. Integrations poll the same filtered lists over and over, so the
count is kept under a generation (releasemgmt.generations) that every
committed write to what the list filters by replaces: releases, their RFC
links and scope (the ``rfc`` and ``ci`` filters), tasks and vendor membership
(what a vendor may see).
"""
from django.conf import settings
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from releasemgmt.generations import Generation

RELEASE_COUNTS = Generation("release-count")


class ReleaseCountPaginator(Paginator):
    @cached_property
    def count(self):
        # The query's SQL and parameters say what is counted: the filters,
        # the search and the caller's visibility.
        sql, params = self.object_list.query.sql_with_params()
        return RELEASE_COUNTS.cached(("count", sql, tuple(params)), lambda: Paginator.count.func(self),
                                     settings.LIST_COUNT_CACHE_SECONDS)


def connect() -> None:
    from .models import Release, ReleaseScopeItem, Task, Vendor

    RELEASE_COUNTS.watch(Release, ReleaseScopeItem, Task, m2m=(Release.rfcs.through, Vendor.users.through))

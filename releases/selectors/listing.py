"""The release list, filtered."""

from __future__ import annotations

import re
from datetime import datetime, time

from django.db.models import Q
from django.utils import timezone

from ..models import Release
from .access import ENDED



def release_list(user, *, q="", state="", release_type="", manager=None, ci=None, start=None, end=None):
    qs = Release.objects.restrict(user).select_related("release_manager").prefetch_related("rfcs")
    if q:
        match = re.fullmatch(r"(?:REL-?)?0*(\d+)", q.strip(), re.IGNORECASE)
        text = Q(title__icontains=q) | Q(description__icontains=q) | Q(rfcs__title__icontains=q)
        if match:
            text |= Q(pk=int(match.group(1)))
        qs = qs.filter(text).distinct()
    if state == "active":
        qs = qs.exclude(state__in=ENDED)
    elif state:
        qs = qs.filter(state=state)
    if release_type:
        qs = qs.filter(release_type=release_type)
    if manager:
        qs = qs.filter(release_manager=manager)
    if ci:
        qs = qs.filter(scope_items__ci=ci).distinct()
    if start:
        qs = qs.filter(planned_end__gte=datetime.combine(start, time.min, tzinfo=timezone.get_current_timezone()))
    if end:
        qs = qs.filter(planned_start__lte=datetime.combine(end, time.max, tzinfo=timezone.get_current_timezone()))
    return qs.order_by("-created_at", "-id")

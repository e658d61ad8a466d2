"""What the calendar marks on the releases it draws: a conflict (another
active release changes one of the same CIs in an overlapping window) and a
freeze (a freeze window covering the release's CIs overlaps it), as words
on the entry, not only a colour.

The rule is the scheduling guard's (releases.conflicts.window_conflicts):
the window is the current plan's deployment window where it has one, else
the planned window; the other releases are those ``ACTIVE_FOR_CONFLICTS``.
Here it is asked for every release on a page at once, in three queries
whatever their number (two when none has a CI in
scope), and only for the same CI (not its dependants).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

from releases.conflicts import ACTIVE_FOR_CONFLICTS
from releases.models import FreezeWindow, Release, ReleasePlan, ReleaseScopeItem


def _windowed(releases):
    """Releases annotated with the window the conflict rule compares."""
    newest = ReleasePlan.objects.filter(release=OuterRef("pk")).order_by("-version")
    return releases.annotate(
        w_start=Coalesce(Subquery(newest.values("deployment_start")[:1]), "planned_start"),
        w_end=Coalesce(Subquery(newest.values("deployment_end")[:1]), "planned_end"))


def release_marks(release_ids, user) -> dict[int, list[str]]:
    """Per release id, the conflicts and freezes that concern it, as words:
    ``"Conflict: REL-00012 on payments-api"``, ``"Freeze: Black Friday"``."""
    ids = set(release_ids)
    if not ids:
        return {}
    windows, scope, names = {}, defaultdict(set), {}
    for pk, a, b, ci_id, name in _windowed(Release.objects.filter(pk__in=ids)) \
            .values_list("pk", "w_start", "w_end", "scope_items__ci", "scope_items__ci__name"):
        if a and b:
            windows[pk] = (a, b)
            if ci_id is not None:
                scope[pk].add(ci_id)
                names[ci_id] = name
    if not windows:
        return {}
    low, high = min(a for a, _ in windows.values()), max(b for _, b in windows.values())
    # The other releases on those CIs, of what the user may see, in the span of the windows.
    others = defaultdict(list)
    if names:
        for release_id, ci_id, a, b in _windowed(Release.objects.restrict(user).filter(state__in=ACTIVE_FOR_CONFLICTS)) \
                .filter(w_start__lt=high, w_end__gt=low, scope_items__ci__in=names) \
                .values_list("pk", "scope_items__ci", "w_start", "w_end"):
            others[ci_id].append((release_id, a, b))
    freezes, covered = {}, defaultdict(set)
    for freeze_id, name, f_a, f_b, ci_id in FreezeWindow.objects.restrict(user).filter(start__lt=high, end__gt=low) \
            .values_list("pk", "name", "start", "end", "cis"):
        freezes[freeze_id] = (name, f_a, f_b)
        if ci_id is not None:
            covered[freeze_id].add(ci_id)
    out: dict[int, list[str]] = {}
    for pk, (a, b) in windows.items():
        marks = []
        hits = defaultdict(set)
        for ci_id in scope[pk]:
            for other, o_a, o_b in others[ci_id]:
                if other != pk and o_a < b and a < o_b:
                    hits[other].add(names[ci_id])
        marks += [f"Conflict: REL-{other:05d} on {', '.join(sorted(cis))}" for other, cis in sorted(hits.items())]
        marks += [f"Freeze: {name}" for freeze_id, (name, f_a, f_b) in freezes.items()
                  if f_a < b and a < f_b and (not covered[freeze_id] or covered[freeze_id] & scope[pk])]
        if marks:
            out[pk] = marks
    return out


def freeze_days(user, first: date, last: date, tz) -> dict[date, list[str]]:
    """Per day from ``first`` to ``last``, the names of the freeze windows on it."""
    a = datetime.combine(first, time.min, tzinfo=tz)
    b = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    out: dict[date, list[str]] = defaultdict(list)
    for name, start, end in FreezeWindow.objects.restrict(user).filter(start__lt=b, end__gt=a) \
            .order_by("start").values_list("name", "start", "end"):
        day = max(start.astimezone(tz).date(), first)
        stop = min((end - timedelta(microseconds=1)).astimezone(tz).date(), last)
        while day <= stop:
            out[day].append(name)
            day += timedelta(days=1)
    return dict(out)

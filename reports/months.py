"""The time in each step over long periods: the histogram of the stays of
each month that is over, kept (``reports.models.StayMonth``), so that a
report of three years reads 36 rows and the stays of the days at its edges
instead of a million stays.

A month is summed the first time a report needs it whole, and only once it
is over: live transitions leave stays at the time they are performed, so
nothing is added to a month that has ended. What may still change one is
forgotten, to be summed again when next needed:

- a release whose type changed in its first states moves its earlier stays
  to its new type (``stays.on_transition``): the months they ended in;
- the stays written afresh from the log (``stays.rebuild``): every month;
- a transition recorded at a time in an earlier month (a clock set back):
  that month.

On PostgreSQL, summing a month and forgetting it take the same lock (per
month, until the transaction ends), so a month summed from stays that a
concurrent transaction is moving to another type is forgotten once that
transaction commits, never kept.
"""
from __future__ import annotations

import zlib
from collections import defaultdict
from datetime import date, datetime, time, timezone as dt_timezone

from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth

from .models import Stay, StayMonth

# The lock's key space: one key per month, beside any other advisory lock.
_LOCK_SPACE = zlib.crc32(b"reports.StayMonth") & 0x7FFFFFFF


def month_of(moment: datetime) -> date:
    return moment.astimezone(dt_timezone.utc).date().replace(day=1)


def _now() -> datetime:
    # The wall clock, not django.utils.timezone.now: a seed that replays a
    # past (seed_demo moves timezone.now along its story) must still find
    # the months it writes into over, and forget their sums.
    return datetime.now(dt_timezone.utc)


def this_month() -> datetime:
    """The start of the month in progress."""
    return _at(month_of(_now()))


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _at(month: date) -> datetime:
    return datetime.combine(month, time.min, tzinfo=dt_timezone.utc)


def whole_months(start: datetime, end: datetime, now: datetime) -> list[date]:
    """The months inside ``[start, end)`` that are over by ``now``."""
    month = month_of(start)
    if _at(month) < start:
        month = _next(month)
    months, last = [], min(end, _at(month_of(now)))
    while _at(_next(month)) <= last:
        months.append(month)
        month = _next(month)
    return months


def _lock(months) -> None:
    if connection.vendor != "postgresql" or not months:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s) AS k ORDER BY k",
                       [_LOCK_SPACE, sorted({m.year * 12 + m.month for m in months})])


def histogram(stays, start: datetime, end: datetime, release_type: str = ""):
    """``(release_type, state, whole hours, count)`` of the stays left in
    ``[start, end)``. ``stays`` are the stays a report measures of every
    release (no release is left out: the months hold them all), already
    limited to the period. The months over and inside the period come from
    their sums, summing those not yet kept (in the same query as the edges'
    stays); the rest from the stays."""
    months = whole_months(start, end, _now())
    kept = dict(StayMonth.objects.filter(month__in=months).values_list("month", "counts")) if months else {}
    missing = [m for m in months if m not in kept]
    _lock(missing)
    # The stays outside the kept months, as ranges of the index on ``left``.
    ranges, begin = Q(), start
    for month in months:
        if month in kept:
            if begin < _at(month):
                ranges |= Q(left__gte=begin, left__lt=_at(month))
            begin = _at(_next(month))
    if begin < end:
        ranges |= Q(left__gte=begin, left__lt=end)
    found = _per_month(stays.filter(ranges)) if ranges else {}
    if missing:
        StayMonth.objects.bulk_create([StayMonth(month=m, counts=found.get(m, [])) for m in missing],
                                      ignore_conflicts=True)
    summed = defaultdict(lambda: defaultdict(int))
    for counts in (*kept.values(), *found.values()):
        for kind, state, hours, n in counts:
            if not release_type or kind == release_type:
                summed[(kind, state)][hours] += n
    return [(kind, state, hours, n) for (kind, state), by_hour in summed.items() for hours, n in by_hour.items()]


def _per_month(stays) -> dict[date, list]:
    rows = stays.annotate(month=TruncMonth("left", tzinfo=dt_timezone.utc)).values_list(
        "month", "release_type", "state", "hours").annotate(n=Count("*")).order_by()
    found = defaultdict(list)
    for month, kind, state, hours, n in rows:
        found[month.date() if isinstance(month, datetime) else month].append([kind, state, hours, n])
    return found


def keep_all(stay_model=None, month_model=None) -> int:
    """Sum every month that is over and not kept yet, in one query (the
    migration that brought the sums, and ``bench seed`` after writing the
    stays), so that no report pays for summing years at once. How many
    months were kept."""
    stay_model, month_model = stay_model or Stay, month_model or StayMonth
    stays = stay_model.objects.filter(left__isnull=False, left__lt=this_month()).exclude(entered_by="")
    first = stays.order_by("left").values_list("left", flat=True).first()
    if first is None:
        return 0
    months = whole_months(_at(month_of(first)), this_month(), _now())
    kept = set(month_model.objects.filter(month__in=months).values_list("month", flat=True))
    missing = [m for m in months if m not in kept]
    _lock(missing)
    found = _per_month(stays.filter(left__gte=_at(missing[0]))) if missing else {}
    month_model.objects.bulk_create([month_model(month=m, counts=found.get(m, [])) for m in missing],
                                    ignore_conflicts=True)
    return len(missing)


def forget(months=None) -> None:
    """Forget these months' sums (all when None)."""
    if months is None:
        StayMonth.objects.all().delete()
        return
    months = sorted(set(months))
    if months:
        _lock(months)
        StayMonth.objects.filter(month__in=months).delete()


def forget_release(release_id: int) -> None:
    """Forget the months a release's stays ended in."""
    left = Stay.objects.filter(release_id=release_id, left__isnull=False).annotate(
        month=TruncMonth("left", tzinfo=dt_timezone.utc)).values_list("month", flat=True).distinct()
    forget(m.date() if isinstance(m, datetime) else m for m in left)

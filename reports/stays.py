"""The stays of releases, written as the process runs: when a transition is
performed, the stay it ends is closed and the one it begins is opened, in
the transition's transaction (``releasemgmt.events``). ``rebuild`` writes
them from the transition log, in one statement per kind, for installations
that kept a log before stays existed (migration 0002) and for data written
straight into the log (the benchmark's seed, tests of the arithmetic)."""
from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import Case, DateTimeField, DurationField, ExpressionWrapper, F, Func, IntegerField, Q, Value, When

from .models import Stay

HOUR_US = 3600 * 10**6


class HoursAbove(Func):
    """The whole hours a duration lasts beyond the hour it began: ``h`` for a
    duration in ``(h, h + 1]`` hours (``-1`` for none at all)."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra):
        # Seconds as a double: exact enough to tell a microsecond either side
        # of a whole hour for any stay shorter than a few centuries.
        return self.as_sql(compiler, connection,
                           template="(CEIL(EXTRACT(EPOCH FROM %(expressions)s)::float8 / 3600)::int - 1)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Durations are whole microseconds on SQLite (Django's own functions).
        return self.as_sql(compiler, connection,
                           template=f"((%(expressions)s + {HOUR_US - 1}) / {HOUR_US} - 1)", **extra)


def hours_above(duration) -> int:
    """``HoursAbove`` in Python, for a ``timedelta`` (exact: whole microseconds)."""
    return -(-(duration // timedelta(microseconds=1)) // HOUR_US) - 1


def _lasted(left):
    return HoursAbove(ExpressionWrapper(left - F("entered"), output_field=DurationField()))


def on_transition(event) -> None:
    """Close the release's current stay and open the next one. The first
    transition of a release also writes its first stay (from its creation),
    which no transition opened.

    A release's type may still be changed in its first states: every stay
    of the release takes the type it has when it moves on, as the reports
    group a release's stays under its type."""
    if not event.is_transition:
        return
    release = event.obj
    closed = Stay.objects.filter(Q(left__isnull=True) | ~Q(release_type=release.release_type),
                                 release_id=release.pk).update(
        left=Case(When(left__isnull=True, then=event.at), default=F("left")),
        hours=Case(When(left__isnull=True, then=_lasted(Value(event.at, output_field=DateTimeField()))),
                   default=F("hours")),
        release_type=release.release_type)
    stays = [Stay(release_id=release.pk, release_type=release.release_type, state=event.target, entered=event.at,
                  entered_by=event.name, entered_from=event.source)]
    if not closed and not Stay.objects.filter(release_id=release.pk).exists():
        entered = min(release.created_at, event.at)
        stays.insert(0, Stay(release_id=release.pk, release_type=release.release_type, state=event.source,
                             entered=entered, left=event.at, hours=hours_above(event.at - entered)))
    Stay.objects.bulk_create(stays)


# One row per release (its first stay, from its creation to its first
# transition) and one per transition of its log (the stay the transition
# began, left at the next one), in the log's order: time, then id.
FIRST_STAYS = """
INSERT INTO {stay} (release_id, release_type, state, entered, "left", entered_by, entered_from)
SELECT r.id, r.release_type, COALESCE(f.source, r.state),
       CASE WHEN f.at < r.created_at THEN f.at ELSE r.created_at END, f.at, '', ''
FROM {release} r
LEFT JOIN (SELECT object_id, source, at,
                  ROW_NUMBER() OVER (PARTITION BY object_id ORDER BY at, id) AS rn
           FROM {log} WHERE content_type_id = %s {only_log}) f ON f.object_id = r.id AND f.rn = 1
WHERE 1 = 1 {only_release}
ORDER BY r.id
"""
LOGGED_STAYS = """
INSERT INTO {stay} (release_id, release_type, state, entered, "left", entered_by, entered_from)
SELECT l.object_id, r.release_type, l.target, l.at,
       LEAD(l.at) OVER (PARTITION BY l.object_id ORDER BY l.at, l.id), l.name, l.source
FROM {log} l JOIN {release} r ON r.id = l.object_id
WHERE l.content_type_id = %s {only_log}
ORDER BY l.object_id, l.at, l.id
"""


def rebuild(release_ids=None, *, stay_model=None, release_model=None, log_model=None, release_ct=None) -> None:
    """Write the stays of these releases (all when None) afresh from the
    transition log. The models default to the current ones; the migration
    passes its historical models."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    stay_model = stay_model or Stay
    release_model = release_model or apps.get_model("releases", "Release")
    log_model = log_model or apps.get_model("releases", "TransitionLog")
    if release_ct is None:
        release_ct = ContentType.objects.get_for_model(release_model).pk
    stays = stay_model.objects.all()
    ids = None if release_ids is None else [int(pk) for pk in release_ids]
    if ids is not None:
        if not ids:
            return
        stays = stays.filter(release_id__in=ids)
    stays.delete()
    quote = connection.ops.quote_name
    tables = {"stay": quote(stay_model._meta.db_table), "release": quote(release_model._meta.db_table),
              "log": quote(log_model._meta.db_table)}
    marks = ", ".join(["%s"] * len(ids or ()))
    with connection.cursor() as cursor:
        for sql, scoped in ((FIRST_STAYS, "object_id"), (LOGGED_STAYS, "l.object_id")):
            statement = sql.format(**tables, only_log=f"AND {scoped} IN ({marks})" if ids else "",
                                   only_release=f"AND r.id IN ({marks})" if ids else "")
            params = [release_ct] + (ids or [])
            if sql is FIRST_STAYS and ids:
                params += ids
            cursor.execute(statement, params)
    stays.filter(left__isnull=False).update(hours=_lasted(F("left")))

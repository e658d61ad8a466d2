"""The stays of releases, written as the process runs: when a transition is
performed, the stay it ends is closed and the one it begins is opened, in
the transition's transaction (``releasemgmt.events``). ``rebuild`` writes
them from the transition log, in one statement per kind, for installations
that kept a log before stays existed (migration 0002) and for data written
straight into the log (the benchmark's seed, tests of the arithmetic)."""
from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import (
    Case, DateTimeField, DurationField, Exists, ExpressionWrapper, F, Func, IntegerField, Q, Subquery, Value, When,
)

from releasemgmt.workflow import name_of
from releases.choices import ReleaseState
from releases.models import Release

from . import months
from .models import Stay

SUBMIT, APPROVE, REJECT = (name_of(t) for t in (Release.submit_plan, Release.approve_plan, Release.reject_plan))
ROLLBACK = name_of(Release.rollback)
CAB = (SUBMIT, APPROVE, REJECT)
DEPLOYED, ROLLED_BACK = ReleaseState.DEPLOYED, ReleaseState.ROLLED_BACK

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
    if closed > 1:
        # Its earlier stays moved to the release's new type.
        months.forget_release(release.pk)
    if event.at < months.this_month():
        months.forget([months.month_of(event.at)])
    stays = [Stay(release_id=release.pk, release_type=release.release_type, state=event.target, entered=event.at,
                  entered_by=event.name, entered_from=event.source, **_facts(release.pk, event))]
    if not closed and not Stay.objects.filter(release_id=release.pk).exists():
        entered = min(release.created_at, event.at)
        stays.insert(0, Stay(release_id=release.pk, release_type=release.release_type, state=event.source,
                             entered=entered, left=event.at, hours=hours_above(event.at - entered)))
    Stay.objects.bulk_create(stays)


def _facts(release_id, event) -> dict:
    """What the new stay records of the release's history (``Stay.paired_at``,
    ``Stay.first_deployment``), as expressions the stay's INSERT evaluates:
    no query of its own. The stays before it are those entered up to the
    transition's time (transitions come in time order; ``FACTS`` orders a
    log rebuilt from any order by time, then id)."""
    earlier = Stay.objects.filter(release_id=release_id, entered__lte=event.at).exclude(entered_by="")

    def answered(family, opener):
        # The start of the pair this stay closes: the stay just before it in
        # its family, when that stay is the pair's opener.
        last = family.order_by("-entered", "-pk").values("pk")[:1]
        return Subquery(Stay.objects.filter(pk=Subquery(last), entered_by=opener).values("entered"))

    if event.name in (APPROVE, REJECT):
        return {"paired_at": answered(earlier.filter(entered_by__in=CAB), SUBMIT)}
    if event.target == ROLLED_BACK and event.name != ROLLBACK:
        family = earlier.filter(Q(entered_by=ROLLBACK) | Q(state=ROLLED_BACK)).exclude(entered_by__in=CAB)
        return {"paired_at": answered(family, ROLLBACK)}
    if event.target == DEPLOYED:
        return {"first_deployment": ~Exists(earlier.filter(state=DEPLOYED))}
    return {}


# The facts of every stay of these releases, from their order: a CAB
# decision is paired with the CAB transition just before it (a submission,
# unless another decision came between), a return to ``rolled_back`` with
# the rollback or return just before it; the first stay in ``deployed`` is
# marked. Only the stays that hold a fact are written.
FACTS = """
UPDATE {stay} SET paired_at = f.paired_at, first_deployment = f.first_deployment
FROM (
  SELECT id,
         CASE WHEN family = 0 AND entered_by IN (%(approve)s, %(reject)s) AND prev = %(submit)s THEN prev_at
              WHEN family = 1 AND state = %(rolled_back)s AND entered_by <> %(rollback)s AND prev = %(rollback)s
              THEN prev_at END AS paired_at,
         (state = %(deployed)s AND ROW_NUMBER() OVER (PARTITION BY release_id, state ORDER BY entered, id) = 1)
           AS first_deployment
  FROM (SELECT id, release_id, state, entered, entered_by, family,
               LAG(entered_by) OVER (PARTITION BY release_id, family ORDER BY entered, id) AS prev,
               LAG(entered) OVER (PARTITION BY release_id, family ORDER BY entered, id) AS prev_at
        FROM (SELECT id, release_id, state, entered, entered_by,
                     CASE WHEN entered_by IN (%(submit)s, %(approve)s, %(reject)s) THEN 0
                          WHEN entered_by = %(rollback)s OR state = %(rolled_back)s THEN 1 END AS family
              FROM {stay}
              WHERE entered_by <> '' {only}
                AND (state IN (%(deployed)s, %(rolled_back)s)
                     OR entered_by IN (%(submit)s, %(approve)s, %(reject)s, %(rollback)s))) AS s) AS w
) AS f
WHERE {stay}.id = f.id AND (f.paired_at IS NOT NULL OR f.first_deployment)
"""


def write_facts(stay_model=None, release_ids=None) -> None:
    """Set the facts (``FACTS``) of the stays of these releases (all when
    None), in one statement."""
    stay_model = stay_model or Stay
    params = {"submit": SUBMIT, "approve": APPROVE, "reject": REJECT, "rollback": ROLLBACK,
              "rolled_back": str(ROLLED_BACK), "deployed": str(DEPLOYED)}
    only = ""
    if release_ids is not None:
        params.update({f"r{i}": int(pk) for i, pk in enumerate(release_ids)})
        only = "AND release_id IN (%s)" % ", ".join(f"%(r{i})s" for i in range(len(release_ids)))
    with connection.cursor() as cursor:
        cursor.execute(FACTS.format(stay=connection.ops.quote_name(stay_model._meta.db_table), only=only), params)


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


def rebuild(release_ids=None, *, stay_model=None, release_model=None, log_model=None, release_ct=None,
            facts=True) -> None:
    """Write the stays of these releases (all when None) afresh from the
    transition log. The models default to the current ones; the migrations
    pass their historical models (migration 0002's stays have no facts yet:
    0003 writes them)."""
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
    if stay_model is Stay:
        months.forget()
    if facts:
        write_facts(stay_model, ids)

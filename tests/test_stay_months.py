"""The sums of the stays of whole months (``reports.months``): a long
report reads them instead of every stay, and what changes a month's stays
makes it be summed again, so the figures stay those of the stays."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection, transaction

from releasemgmt.workflow import name_of
from releases.models import Release
from releases.scenario import Walker, new_release
from releases.services import release_update
from reports import months
from reports.metrics import MetricsFilterForm, compute
from reports.models import Stay, StayMonth
from reports.stays import rebuild
from tests.test_metrics import _reference, _untidy_world

UTC = dt_timezone.utc
LONG = {"from": "2025-12-01", "to": "2026-06-30"}  # December to June, all over


def _filters(params):
    form = MetricsFilterForm(params)
    assert form.is_valid(), form.errors
    return form.filters()


def test_the_whole_months_of_a_period_that_are_over():
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    now = at(2026, 5, 20, 12)
    assert months.whole_months(at(2026, 1, 1), at(2026, 4, 1), now) == [date(2026, 1, 1), date(2026, 2, 1),
                                                                        date(2026, 3, 1)]
    # A period starting after a month's first moment skips that month; May is not over.
    assert months.whole_months(at(2026, 1, 1, 0, 0, 1), at(2026, 6, 1), now) == [
        date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    assert months.whole_months(at(2026, 12, 1), at(2027, 2, 1), at(2027, 3, 1)) == [date(2026, 12, 1),
                                                                                 date(2027, 1, 1)]
    assert months.whole_months(at(2026, 3, 5), at(2026, 3, 25), now) == []


@pytest.mark.django_db
def test_a_long_report_reads_the_months_it_kept(make_user):
    _untidy_world(make_user("release_manager"), 3)
    filters = _filters(LONG)
    assert compute(filters) == _reference(filters)
    kept = dict(StayMonth.objects.values_list("month", "counts"))
    assert sorted(kept) == [date(2025, 12, 1), *(date(2026, m, 1) for m in range(1, 7))]
    assert sum(n for counts in kept.values() for *_, n in counts) == Stay.objects.filter(
        left__gte=datetime(2025, 12, 1, tzinfo=UTC), left__lt=datetime(2026, 7, 1, tzinfo=UTC)).exclude(
        entered_by="").count()

    # The kept sums are what is read: a month altered behind the report's
    # back shows in its figures...
    busiest = max(kept, key=lambda m: sum(n for *_, n in kept[m]))
    StayMonth.objects.filter(month=busiest).update(counts=[])
    assert compute(_filters(LONG))["time_in_step"] != _reference(filters)["time_in_step"]
    # ... until it is forgotten and summed again from the stays.
    months.forget([busiest])
    assert compute(_filters(LONG)) == _reference(filters)
    # A report filtered by team, vendor or CI counts the stays themselves.
    assert StayMonth.objects.filter(month=busiest).exists()


@pytest.mark.django_db
def test_stays_written_afresh_forget_every_month(make_user):
    _untidy_world(make_user("release_manager"), 4)
    compute(_filters(LONG))
    assert StayMonth.objects.exists()
    rebuild([Release.objects.order_by("pk").values_list("pk", flat=True).first()])
    assert not StayMonth.objects.exists()


def _into_last_month(release):
    """Move the release's stays back into the month before this one, as if
    it had been raised then."""
    now = datetime.now(UTC)
    back = now - datetime.combine(months.month_of(now) - timedelta(days=20), datetime.min.time(),
                                  tzinfo=UTC).replace(day=10)
    for stay in Stay.objects.filter(release=release):
        Stay.objects.filter(pk=stay.pk).update(entered=stay.entered - back, left=stay.left and stay.left - back)


@pytest.mark.django_db
def test_a_type_changed_forgets_the_months_of_the_release_stays(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("plan_submitted")
    w.go(name_of(Release.reject_plan), actors.cab_members[0], reason="Not yet.")
    _into_last_month(release)
    now = datetime.now(UTC)
    period = {"from": (now - timedelta(days=80)).date().isoformat(), "to": now.date().isoformat()}
    before = compute(_filters(period))["time_in_step"]
    last_month = months.month_of(now).replace(day=1) - timedelta(days=1)
    assert StayMonth.objects.filter(month=last_month.replace(day=1)).exists()
    assert {r["release_type"] for r in before} == {release.release_type}

    release_update(release_id=release.pk, by=actors.release_manager, release_type="major")
    w.release.refresh_from_db()
    w.go(name_of(Release.submit_plan), actors.release_manager)
    assert not StayMonth.objects.filter(month=last_month.replace(day=1)).exists()
    after = compute(_filters(period))["time_in_step"]
    assert {r["release_type"] for r in after} == {"major"}
    assert sum(r["count"] for r in after) == sum(r["count"] for r in before) + 1


@pytest.mark.django_db
def test_a_transition_dated_in_an_earlier_month_forgets_that_month(actors, cis, monkeypatch):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    this_month = months.month_of(datetime.now(UTC))
    StayMonth.objects.create(month=this_month, counts=[])
    w.to("planning")
    assert StayMonth.objects.filter(month=this_month).exists()  # the month in progress: nothing kept is touched
    # The clock of the report reads the next month: this transition's month is now over.
    later = months._at(this_month) + timedelta(days=40)
    monkeypatch.setattr(months, "_now", lambda: later)
    w.to("plan_submitted")
    assert not StayMonth.objects.filter(month=this_month).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lock is PostgreSQL's")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_month_is_not_summed_while_a_transaction_forgetting_it_is_open(make_user):
    """A report summing a month waits for a transaction that forgets it
    (moves its stays to another type), then sums what that one committed."""
    _untidy_world(make_user("release_manager"), 5)
    month = date(2026, 2, 1)
    holding, release_it, summed = threading.Event(), threading.Event(), threading.Event()

    def forgetting():
        try:
            with transaction.atomic():
                months.forget([month])
                holding.set()
                release_it.wait(10)
        finally:
            connection.close()

    def reporting():
        try:
            compute(_filters(LONG))
            summed.set()
        finally:
            connection.close()

    a = threading.Thread(target=forgetting)
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=reporting)
    b.start()
    assert not summed.wait(1.5)  # waiting on the month's lock
    release_it.set()
    a.join(10)
    b.join(20)
    assert summed.is_set() and StayMonth.objects.filter(month=month).exists()


@pytest.mark.django_db
def test_every_month_over_can_be_summed_at_once(make_user):
    """What the migration bringing the sums, and the benchmark's seed, run."""
    _untidy_world(make_user("release_manager"), 6)
    assert not StayMonth.objects.exists()
    this_month = months.this_month()
    measured = Stay.objects.filter(left__lt=this_month).exclude(entered_by="")
    first = months.month_of(measured.order_by("left").first().left)
    kept = months.keep_all()
    assert kept == StayMonth.objects.count() == len(months.whole_months(months._at(first), this_month,
                                                                         datetime.now(UTC)))
    assert sum(n for counts in StayMonth.objects.values_list("counts", flat=True) for *_, n in counts) == (
        measured.count())
    assert months.keep_all() == 0
    filters = _filters(LONG)
    assert compute(filters) == _reference(filters)

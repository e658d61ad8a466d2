"""A window ending before it starts was accepted by the service before the
database held the rule: the migration that adds the rule clears such a
planned end first, and says so in the history, instead of failing."""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.helpers import migrate_to

# Schema changes and rows in one transaction trip PostgreSQL's deferred
# foreign-key checks ("pending trigger events"): each step commits here.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("releases", "0017_signatures")]
AFTER = [("releases", "0019_planned_window")]


def test_reversed_windows_are_cleared_with_a_history_row_and_then_refused(make_user, back_to_the_latest_schema):
    manager = make_user("release_manager", username="old-manager")
    now = timezone.now().replace(microsecond=0)
    old = migrate_to(BEFORE)
    Rfc, Release, Task = (old.get_model(*m) for m in (("changes", "ChangeRequest"), ("releases", "Release"),
                                                          ("releases", "Task")))
    rfc = Rfc.objects.create(title="Old", description="Raised long ago.", requester_id=manager.pk)
    reversed_release = Release.objects.create(title="Reversed", release_manager_id=manager.pk,
                                              planned_start=now, planned_end=now - timedelta(hours=1))
    reversed_release.rfcs.add(rfc)
    empty_window = Release.objects.create(title="Empty", release_manager_id=manager.pk,
                                          planned_start=now, planned_end=now)
    fine = Release.objects.create(title="Fine", release_manager_id=manager.pk,
                                  planned_start=now, planned_end=now + timedelta(days=1))
    reversed_task = Task.objects.create(release=fine, title="Reversed", planned_start=now,
                                        planned_end=now - timedelta(minutes=1))
    instant_task = Task.objects.create(release=fine, title="A moment", planned_start=now, planned_end=now)

    new = migrate_to(AFTER)

    Release, Task = new.get_model("releases", "Release"), new.get_model("releases", "Task")
    assert Release.objects.get(pk=reversed_release.pk).planned_end is None
    assert Release.objects.get(pk=empty_window.pk).planned_end is None
    assert Release.objects.get(pk=fine.pk).planned_end == now + timedelta(days=1)
    assert Task.objects.get(pk=reversed_task.pk).planned_end is None
    assert Task.objects.get(pk=instant_task.pk).planned_end == now  # a task may be a moment
    history = new.get_model("releases", "HistoricalRelease").objects.get(id=reversed_release.pk)
    assert history.history_change_reason == "planned end cleared: it was before the start"
    assert history.planned_end is None and history.planned_start == now
    links = new.get_model("releases", "HistoricalRelease_rfcs").objects.filter(history_id=history.pk)
    assert [link.changerequest_id for link in links] == [rfc.pk]
    assert new.get_model("releases", "HistoricalTask").objects.get(id=reversed_task.pk).planned_end is None
    with pytest.raises(IntegrityError), transaction.atomic():
        Release.objects.filter(pk=fine.pk).update(planned_end=now - timedelta(days=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=instant_task.pk).update(planned_end=now - timedelta(seconds=1))

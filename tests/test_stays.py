"""Stays written as the process runs: the listener closes the stay a
transition ends and opens the one it begins, in the transition's
transaction; the same stays follow from the transition log (the migration's
backfill, ``reports.stays.rebuild``)."""
import pytest
from django.db import transaction

from releasemgmt.workflow import name_of
from releases.models import Release
from releases.scenario import Walker, new_release
from releases.services import release_update
from reports.models import Stay
from reports.stays import rebuild

pytestmark = pytest.mark.django_db


def _stays(release):
    return list(Stay.objects.filter(release=release).order_by("entered", "id").values_list(
        "state", "entered", "left", "release_type", "entered_by", "entered_from"))


def test_each_transition_closes_one_stay_and_opens_the_next(actors, cis):
    release = new_release(actors, cis=cis)
    assert not Stay.objects.filter(release=release).exists()  # created: no transition yet
    w = Walker(release, actors)
    w.to("plan_submitted")
    stays = _stays(release)
    assert [s[0] for s in stays] == ["new", "planning", "plan_submitted"]
    # Each stay is left when the next is entered; the one it stands in is open.
    assert [s[2] for s in stays[:-1]] == [s[1] for s in stays[1:]] and stays[-1][2] is None
    assert stays[0][4:] == ("", "") and stays[1][4:] == (name_of(Release.start_planning), "new")
    assert Stay.objects.get(release=release, left__isnull=True).state == w.release.state


def test_the_listener_and_the_log_give_the_same_stays(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("rolled_back", rollback_from="verified")
    written = _stays(release)
    rebuild([release.pk])
    assert _stays(release) == written
    assert len(written) > 10 and written[-1][0] == "rolled_back"


def test_a_type_changed_in_planning_is_the_type_of_every_stay(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("planning")
    release_update(release_id=release.pk, by=actors.release_manager, release_type="major")
    w.to("plan_submitted")
    assert set(Stay.objects.filter(release=release).values_list("release_type", flat=True)) == {"major"}


def test_a_failed_transition_writes_no_stay(actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("planning")
    before = _stays(release)
    with pytest.raises(RuntimeError), transaction.atomic():
        w.to("plan_submitted")
        assert _stays(release) != before
        raise RuntimeError("rolled back with the transition")
    assert _stays(release) == before


def test_the_facts_written_as_it_happens_are_those_of_the_log(actors, cis):
    """A CAB decision records the submission it answers, the return to
    rolled_back the rollback it completes, the first deployed stay says so:
    the listener and the rebuild from the log agree."""
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("rolled_back", rollback_from="verified")

    def facts():
        return list(Stay.objects.filter(release=release).order_by("entered", "id").values_list(
            "state", "entered_by", "paired_at", "first_deployment"))

    written = facts()
    rebuild([release.pk])
    assert facts() == written
    by_name = {name: (paired, first) for _, name, paired, first in written}
    entered = dict(Stay.objects.filter(release=release).values_list("entered_by", "entered"))
    assert by_name[name_of(Release.approve_plan)][0] == entered[name_of(Release.submit_plan)]
    assert by_name[name_of(Release.complete_rollback)][0] == entered[name_of(Release.rollback)]
    assert [s for s, _, _, first in written if first] == ["deployed"]

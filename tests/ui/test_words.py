"""The words people read: states and steps as the tracker names them, not
code names or lowercased labels."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from releasemgmt.workflow import name_of
from releases.models import CabVote, InboundDelivery, PreImplementationCheck, Release
from releases.scenario import Walker, new_release
from tests.helpers import html

pytestmark = pytest.mark.django_db


def test_a_step_taken_in_the_browser_says_the_state_by_its_label(login, actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("planning")
    w.plan()
    client = login(actors.release_manager)
    response = client.post(reverse("releases:transition", args=[release.pk, name_of(Release.submit_plan)]))
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == [f"Submit plan to CAB: done. {release.number} is now “Plan submitted to CAB”."]


def test_records_are_named_as_people_write_them(actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("plan_approved")
    vote = CabVote.objects.filter(release=release).first()
    assert str(vote) == f"CAB vote #{vote.pk}"
    assert InboundDelivery._meta.verbose_name_plural == "inbound deliveries"
    assert PreImplementationCheck._meta.verbose_name == "pre-implementation check"


def test_the_dashboard_and_the_list_say_which_window(login, actors, cis):
    release = new_release(actors, cis=cis, title="Window words")
    Walker(release, actors).to("scheduled")
    client = login(actors.release_manager)
    assert "Deployment window " in html(client.get(reverse("dashboard")))
    assert "<th>Planned window</th>" in html(client.get(reverse("releases:list")))

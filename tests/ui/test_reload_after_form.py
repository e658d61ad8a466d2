"""A page reached by a form can be reloaded: the address a refused form was
shown at (a transition, a vote, a scope or baseline form) is one only its
POST acts on, and opened with GET it leads back to the page the form is on
instead of a 405 error page."""
import pytest
from django.urls import reverse

from changes.models import Problem
from releasemgmt.workflow import name_of
from releases.models import Release, Task
from releases.scenario import Walker, new_release
from tests.helpers import html

pytestmark = pytest.mark.django_db


def test_reloading_a_refused_transition_lands_on_the_release_page(login, actors, cis):
    release = new_release(actors, cis=cis)
    Walker(release, actors).to("planning")
    client = login(actors.release_manager)
    url = reverse("releases:transition", args=[release.pk, name_of(Release.submit_plan)])
    refused = client.post(url)  # no plan yet: refused, the page shown again at this address
    assert refused.status_code == 409 and "plan" in html(refused).lower()
    reloaded = client.get(url)
    assert reloaded.status_code == 302 and reloaded["Location"] == reverse("releases:detail", args=[release.pk])
    assert client.get(reloaded["Location"]).status_code == 200
    assert client.put(url).status_code == 405  # only GET and HEAD are sent back


def test_every_form_address_opened_by_itself_leads_to_its_page(login, actors, cis):
    release = new_release(actors, cis=cis)
    w = Walker(release, actors)
    w.to("scheduled")
    task = Task.objects.filter(release=release).first()
    rfc = release.rfcs.first()
    client = login(actors.release_manager)
    cases = [
        (reverse("releases:transition", args=[release.pk, "anything"]), reverse("releases:detail", args=[release.pk])),
        (reverse("releases:scope_add", args=[release.pk]), reverse("releases:detail", args=[release.pk])),
        (reverse("releases:baseline_capture", args=[release.pk]), reverse("releases:detail", args=[release.pk])),
        (reverse("releases:acceptance", args=[release.pk]), reverse("releases:detail", args=[release.pk])),
        (reverse("releases:cab_vote", args=[release.pk]), reverse("releases:cab_review", args=[release.pk])),
        (reverse("releases:task_transition", args=[task.pk, "start"]), reverse("releases:task", args=[task.pk])),
        (reverse("changes:transition", args=[rfc.pk, "assess"]), reverse("changes:detail", args=[rfc.pk])),
        (reverse("changes:problem_open", args=[release.pk]), reverse("releases:detail", args=[release.pk])),
        (reverse("releases:calendar_subscription"), reverse("releases:calendar")),
    ]
    for url, page in cases:
        response = client.get(url)
        assert (response.status_code, response.get("Location")) == (302, page), url
    problem = Problem.objects.create(title="Why", release=release, created_by=actors.release_manager)
    url = reverse("changes:problem_transition", args=[problem.pk, "anything"])
    assert client.get(url)["Location"] == reverse("changes:problem_detail", args=[problem.pk])
    # Nothing was changed by those visits.
    assert Release.objects.get(pk=release.pk).state == w.release.state

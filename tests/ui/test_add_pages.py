"""Records and tasks the current step does not ask for are added on a page of
their own, a link away from the release page, which then draws only the forms
wanted now."""
from __future__ import annotations

import pytest
from django.urls import reverse

from releases.choices import CommunicationKind
from releases.scenario import Walker, new_release
from tests.helpers import html

pytestmark = pytest.mark.django_db
KIND = CommunicationKind.values[0]


@pytest.fixture
def building(actors, cis):
    return Walker(new_release(actors, cis=cis), actors).to("building")


def test_the_release_page_links_to_forms_it_does_not_draw(login, actors, building):
    page = html(login(actors.release_manager).get(reverse("releases:detail", args=[building.pk])))
    communications = reverse("releases:record_add", args=[building.pk, "communications"])
    assert f'<a class="btn add-record-link" href="{communications}">Add a communication</a>' in page
    assert 'data-record="communications"' not in page  # its form is on its own page
    tasks = reverse("releases:task_add", args=[building.pk])
    assert f'href="{tasks}">Plan a task</a>' in page and 'data-form="task"' not in page


def test_a_record_is_added_from_its_own_page(login, actors, building):
    client = login(actors.release_manager)
    url = reverse("releases:record_add", args=[building.pk, "communications"])
    page = client.get(url)
    assert page.status_code == 200
    assert 'class="record-form" data-record="communications"' in html(page)
    assert f'action="{url}"' in html(page) and "<h1>Add a communication</h1>" in html(page)
    done = client.post(url, {"communications-kind": KIND, "communications-rfc_requesters": "on",
                             "communications-subject": "Order search 2.0 is coming."})
    assert done.status_code == 302, html(done)[:2000]
    assert building.communications.filter(audience="RFC requesters", subject="Order search 2.0 is coming.").exists()


def test_a_task_is_planned_from_its_own_page(login, actors, building):
    client = login(actors.release_manager)
    url = reverse("releases:task_add", args=[building.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'data-form="task"' in html(page) and 'name="task-title"' in html(page)
    done = client.post(url, {"task-title": "Warm the caches", "task-step": "12"})
    assert done.status_code == 302
    assert building.tasks.filter(title="Warm the caches").exists()


def test_the_add_pages_keep_their_rules(login, actors, building):
    tester = login(actors.test_team)
    assert tester.get(reverse("releases:task_add", args=[building.pk])).status_code == 403
    assert tester.get(reverse("releases:record_add", args=[building.pk, "plans"])).status_code == 403
    rm = login(actors.release_manager)
    assert rm.get(reverse("releases:record_add", args=[building.pk, "no_such_record"])).status_code == 404
    closed = rm.get(reverse("releases:record_add", args=[building.pk, "plans"]))
    assert "This step is closed: no release plan can be added now." in html(closed)


def test_the_list_pages_links_reach_the_next_page(login, actors):
    """The pager's links keep the filters and move the page (Django's
    ``{% querystring %}`` writes the leading "?" itself)."""
    import re

    from releases.models import Release

    Release.objects.bulk_create(Release(title=f"Paged {k}", release_type="minor",
                                        release_manager=actors.release_manager) for k in range(60))
    client = login(actors.release_manager)
    first = html(client.get("/releases/", {"q": "Paged"}))
    link = re.search(r'<a href="([^"]+)">Older →</a>', first).group(1).replace("&amp;", "&")
    assert link.startswith("?") and not link.startswith("??") and "q=Paged" in link
    second = html(client.get("/releases/" + link))
    assert "Page 2 of 2" in second and second.count("Paged ") < first.count("Paged ")

"""The task board stays bounded however many tasks there are: each column
draws at most ``BOARD_COLUMN_SIZE`` cards with its true total, the rest of a
column is a page link away (keeping the scope and release filters), and the
page takes the same queries for N and 3N tasks."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.models import Task, Vendor
from releases.scenario import Walker, new_release
from releases.selectors import BOARD_COLUMN_SIZE, BOARD_DONE_DAYS

pytestmark = pytest.mark.django_db

COLUMNS = ("open", "in_progress", "blocked", "done")
# Session, user, the user's groups, the four columns' counts, one page of each column.
TASK_BOARD_QUERIES = 8


@pytest.fixture
def release(actors):
    return new_release(actors)


@pytest.fixture
def scheduled(actors, cis):
    """A release whose tasks may be started (and which has tasks of its own)."""
    return Walker(new_release(actors, cis=cis), actors).to("scheduled")


def add_tasks(release, n, *, state, start=0, **fields):
    """``n`` tasks in ``state``, written directly: the board only reads them,
    and going through the services would take a transition per task. Titles
    have a fixed width so pages of different tasks weigh the same."""
    end = release.planned_start + timedelta(hours=2)
    Task.objects.bulk_create([
        Task(release=release, title=f"{state} task {i:05d}", step=12, state=state,
             planned_start=release.planned_start, planned_end=end + timedelta(minutes=i), **fields)
        for i in range(start, start + n)])


def add_everywhere(release, n, start=0, **fields):
    for state in COLUMNS:
        add_tasks(release, n, state=state, start=start, **fields)
    # Never on the board: cancelled tasks, and tasks done more than two weeks ago.
    add_tasks(release, 2, state="cancelled", start=start, **fields)
    add_tasks(release, 2, state="done", start=start + 90000, **fields)
    Task.objects.filter(title__startswith="done task 9").update(
        updated_at=timezone.now() - timedelta(days=BOARD_DONE_DAYS + 1))


def get(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def column(body, key) -> str:
    start = body.index(f'<section class="column col-{key}"')
    return body[start:body.index("</section>", start)]


def card_ids(section) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article class="task-card" id="task-(\d+)"', section)]


def count_badge(section) -> str:
    return re.search(r'<span class="count"[^>]*>([^<]*)</span>', section).group(1)


def next_link(section) -> str | None:
    match = re.search(r'<a href="([^"]*)" rel="next">', section)
    return unescape(match.group(1)) if match else None


def board_order(release, state):
    qs = Task.objects.filter(release=release, state=state)
    if state == "done":
        qs = qs.filter(updated_at__gte=timezone.now() - timedelta(days=BOARD_DONE_DAYS))
    return list(qs.order_by("planned_end", "pk").values_list("pk", flat=True))


def test_the_board_takes_the_same_queries_and_size_for_3n_tasks(login, actors, release):
    client = login(actors.release_manager)
    url = reverse("releases:tasks")
    n = BOARD_COLUMN_SIZE + 10
    add_everywhere(release, n)
    client.get(url)  # warm caches (content types, sessions)
    body, queries = get(client, url)
    add_everywhere(release, 2 * n, start=n)
    body3, queries3 = get(client, url)

    assert queries == queries3 == TASK_BOARD_QUERIES, f"the task board now takes {queries3} queries"
    for key in COLUMNS:
        assert len(card_ids(column(body, key))) == len(card_ids(column(body3, key))) == BOARD_COLUMN_SIZE
        # The count is the column's true total (old done and cancelled tasks left out).
        assert count_badge(column(body, key)) == str(n)
        assert count_badge(column(body3, key)) == str(3 * n) == str(len(board_order(release, key)))
        assert f"{3 * n} tasks, showing 1–{BOARD_COLUMN_SIZE}" in column(body3, key)
        # The first page is the first cards in the board's order: planned end, then id.
        assert card_ids(column(body3, key)) == board_order(release, key)[:BOARD_COLUMN_SIZE]
    # Same cards, same forms: only the digits of the counts differ.
    assert abs(len(body3) - len(body)) < 100, (len(body), len(body3))


def test_a_column_pages_through_all_its_tasks(login, actors, release):
    client = login(actors.release_manager)
    total = 2 * BOARD_COLUMN_SIZE + 7
    add_tasks(release, total, state="open")
    add_tasks(release, 3, state="blocked")
    url, seen, pages = reverse("releases:tasks"), [], 0
    client.get(url)  # warm caches (content types, sessions)
    while url:
        body, queries = get(client, url)
        assert queries <= TASK_BOARD_QUERIES
        open_column = column(body, "open")
        seen += card_ids(open_column)
        pages += 1
        # Paging one column leaves the others on their first page.
        assert len(card_ids(column(body, "blocked"))) == 3
        assert count_badge(open_column) == str(total)
        link = next_link(open_column)
        url = reverse("releases:tasks") + link.split("#")[0] if link else None
    assert pages == 3
    assert seen == board_order(release, "open")
    # The last page is short and says so; a page past the end shows the last one.
    assert f"{total} tasks, showing {2 * BOARD_COLUMN_SIZE + 1}–{total}" in open_column
    assert 'rel="prev"' in open_column
    body, _ = get(client, reverse("releases:tasks") + "?column=open&page=99")
    assert card_ids(column(body, "open")) == seen[2 * BOARD_COLUMN_SIZE:]
    body, _ = get(client, reverse("releases:tasks") + "?column=open&page=x")
    assert card_ids(column(body, "open")) == seen[:BOARD_COLUMN_SIZE]
    # A column that fits on one page has no links.
    assert "rel=" not in column(body, "blocked") and "showing" not in column(body, "blocked")


def test_paging_keeps_the_scope_and_release_filters(login, actors, release):
    other = new_release(actors, title="Other release")
    add_tasks(release, BOARD_COLUMN_SIZE + 5, state="in_progress", assignee_user=actors.deployment_team)
    add_tasks(other, 4, state="in_progress", assignee_user=actors.deployment_team)
    add_tasks(release, 6, state="in_progress", assignee_user=actors.build_team)
    client = login(actors.deployment_team)
    base = reverse("releases:tasks")
    body, _ = get(client, f"{base}?scope=mine&release={release.pk}")
    section = column(body, "in_progress")
    assert count_badge(section) == str(BOARD_COLUMN_SIZE + 5)
    link = next_link(section)
    assert "scope=mine" in link and f"release={release.pk}" in link and "column=in_progress" in link
    body, _ = get(client, base + link.split("#")[0])
    rest = card_ids(column(body, "in_progress"))
    mine = list(Task.objects.filter(release=release, assignee_user=actors.deployment_team)
                .order_by("planned_end", "pk").values_list("pk", flat=True))
    assert rest == mine[BOARD_COLUMN_SIZE:]
    # Without the release filter the other release's tasks count too; "all" counts everyone's.
    body, _ = get(client, f"{base}?scope=mine")
    assert count_badge(column(body, "in_progress")) == str(BOARD_COLUMN_SIZE + 9)
    body, _ = get(client, f"{base}?scope=all&release={release.pk}")
    assert count_badge(column(body, "in_progress")) == str(BOARD_COLUMN_SIZE + 11)


def test_a_vendor_counts_and_pages_only_its_tasks(login, make_user, actors, release):
    acme, globex = Vendor.objects.create(name="Acme"), Vendor.objects.create(name="Globex")
    vendor_user = make_user("vendor")
    acme.users.add(vendor_user)
    add_tasks(release, BOARD_COLUMN_SIZE + 2, state="open", assignee_vendor=acme)
    add_tasks(release, 5, state="open", assignee_vendor=globex)
    client = login(vendor_user)
    body, _ = get(client, reverse("releases:tasks"))
    section = column(body, "open")
    assert count_badge(section) == str(BOARD_COLUMN_SIZE + 2)
    body, _ = get(client, reverse("releases:tasks") + next_link(section).split("#")[0])
    ids = card_ids(column(body, "open"))
    assert len(ids) == 2 and set(Task.objects.filter(pk__in=ids).values_list("assignee_vendor", flat=True)) == {acme.pk}


def test_the_cards_of_a_later_page_keep_their_actions(login, actors, scheduled):
    add_tasks(scheduled, BOARD_COLUMN_SIZE + 1, state="open", assignee_user=actors.deployment_team)
    client = login(actors.deployment_team)
    url = reverse("releases:tasks") + "?column=open&page=2"
    body, _ = get(client, url)
    # A card of the second page that is one of the added tasks (not the release's own).
    pk = Task.objects.filter(pk__in=card_ids(column(body, "open")), title__startswith="open task") \
        .values_list("pk", flat=True).first()
    assert pk is not None
    assert f'action="{reverse("releases:task_transition", args=[pk, "start"])}"' in body
    # After the action the user comes back to the page they were on.
    assert f'name="next" value="{url.replace("&", "&amp;")}"' in body
    r = client.post(reverse("releases:task_transition", args=[pk, "start"]), {"next": url})
    assert r.status_code == 302 and r["Location"] == url
    assert Task.objects.get(pk=pk).state == "in_progress"


def test_tasks_without_a_planned_end_come_last_in_every_column(login, actors, release):
    # PostgreSQL sorts empty values last and SQLite first: the board says which.
    for state in ("open", "done"):
        add_tasks(release, 2, state=state)
        add_tasks(release, 2, state=state, start=2)
        Task.objects.filter(title__in=[f"{state} task 00002", f"{state} task 00003"]).update(planned_end=None)
    body, _ = get(login(actors.release_manager), reverse("releases:tasks"))
    for state in ("open", "done"):
        titles = re.findall(r'data-task="([^"]*)"', column(body, state))
        assert titles == [f"{state} task {i:05d}" for i in range(4)]

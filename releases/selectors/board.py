"""The task board: four columns, each a page of tasks."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from ..choices import ReleaseState, TaskState
from ..models import Release, Task
from .access import Membership



# The board shows at most this many cards per column: a column can hold
# thousands of tasks with years of history, and drawing each with its forms
# made the page megabytes long. The rest of a column is a page link away.
BOARD_COLUMN_SIZE = 50
BOARD_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED, TaskState.DONE)
# Done tasks stay on the board for two weeks, then live on their release's page.
BOARD_DONE_DAYS = 14


def _board_column_q(state, cutoff) -> Q:
    if state == TaskState.DONE:
        return Q(state=state, updated_at__gte=cutoff)
    return Q(state=state)


def _board_order(state):
    """Planned end (tasks without one last, on PostgreSQL and SQLite alike),
    then id. For the done column the end is wrapped in COALESCE so that
    PostgreSQL cannot read it off the planned_end index: walking that index
    in order, it passes every older done task before the few done in the
    last two weeks; unable to, it picks the
    recent done tasks first and sorts those. The open, in-progress and
    blocked tasks are spread along the index, so walking it finds a page at
    at once, and those columns keep the plain order."""
    from datetime import UTC

    from django.db.models import DateTimeField, F, Value
    from django.db.models.functions import Coalesce

    if state == TaskState.DONE:
        never = Value(datetime.max.replace(tzinfo=UTC), output_field=DateTimeField())
        return [Coalesce("planned_end", never).asc(), "pk"]
    return [F("planned_end").asc(nulls_last=True), "pk"]


def task_board(user, member: Membership, scope: str, release_id=None, column=None, page=1):
    """The task board's four columns (open, in progress, blocked, done), each
    a paginator ``Page`` of at most ``BOARD_COLUMN_SIZE`` tasks ordered by
    planned end then id: page ``page`` for the column ``column`` (its last if
    past the end), the first page for the others. One query counts all four columns (no rows loaded), then one
    per non-empty column fetches its page: at most five, however many tasks.

    Offset pagination, not keyset: the sort key starts with ``planned_end``,
    which may be empty, so a keyset cursor would need a NULL-aware
    comparison; page numbers also give the "51-100 of 1,234" the column shows
    and a link that can be shared. A deep page costs an offset scan of that
    one column, dearer the deeper the page. A task that changes column between two page loads may
    shift the others by one, which a board that moves anyway can bear.
    """
    # NOT EXISTS rather than a join: the join hashes every release to drop
    # the tasks of the few cancelled ones; the anti-join reads only
    # those (the state index).
    cancelled = Release.objects.filter(pk=OuterRef("release_id"), state=ReleaseState.CANCELLED)
    qs = Task.objects.restrict(user).filter(~Exists(cancelled))
    if scope == "mine":
        qs = qs.filter(member.mine_q())
    if release_id:
        qs = qs.filter(release_id=release_id)
    cutoff = timezone.now() - timedelta(days=BOARD_DONE_DAYS)
    on_board = Q()
    for state in BOARD_STATES:
        on_board |= _board_column_q(state, cutoff)
    totals = dict(qs.filter(on_board).order_by().values_list("state").annotate(n=Count("pk")))
    rows = qs.select_related("release", "assignee_user", "assignee_team", "assignee_vendor")
    columns = {}
    for state in BOARD_STATES:
        paginator = Paginator(rows.filter(_board_column_q(state, cutoff)).order_by(*_board_order(state)),
                              BOARD_COLUMN_SIZE)
        paginator.count = totals.get(state, 0)  # counted above with the other columns, not once each
        col = paginator.get_page(max(1, page) if state == column else 1)
        col.object_list = list(col.object_list)  # an empty column's slice [0:0] runs no query
        columns[state] = col
    return columns

"""The dashboard, and the whole of what waits on the person, a page at a time."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from releasemgmt.input_guard import parse_id

from ..selectors import dashboard
from ..selectors.waiting import work_queue

QUEUE_PAGE_SIZE = 50
MAX_PAGE = 200


@login_required
def dashboard_view(request):
    return render(request, "releases/dashboard.html", dashboard(request.user))


@login_required
def queue_view(request):
    """Everything that waits on the user, oldest first, QUEUE_PAGE_SIZE a
    page: the dashboard shows the first few and links here for the rest."""
    # Bounded: each page reads its offset's rows of every source (``work_queue``).
    number = min(parse_id(request.GET.get("page", "")) or 1, MAX_PAGE)
    queue = work_queue(request.user, offset=(number - 1) * QUEUE_PAGE_SIZE, limit=QUEUE_PAGE_SIZE)
    pages = max(-(-queue.total // QUEUE_PAGE_SIZE), 1)
    return render(request, "releases/queue.html", {
        "queue": queue, "number": number, "pages": pages,
        "first": (number - 1) * QUEUE_PAGE_SIZE + 1, "last": (number - 1) * QUEUE_PAGE_SIZE + len(queue.items)})

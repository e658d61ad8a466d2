"""``GET /api/me/queue/``: what waits on the authenticated user, the items of
their dashboard's "Waiting on you" (``releases.selectors.waiting``), for
integrations and chat bots. Paged as every list of the API."""
from __future__ import annotations

from django.core.paginator import Page, Paginator
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers

from releasemgmt.api import READ_ERRORS, StandardPagination

from ..selectors.waiting import work_queue


class QueueItemSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Names the item while it waits; work that comes back has a new key.")
    kind = serializers.CharField(help_text="rfc, cab_vote, go, step, record:<record type>, baseline or task.")
    action = serializers.CharField(help_text="What to do, in the words of the page that does it.")
    subject = serializers.CharField(help_text="The release, RFC or task it concerns: number and title.")
    release = serializers.IntegerField(source="release_id", allow_null=True)
    release_number = serializers.CharField(allow_blank=True)
    since = serializers.DateTimeField(help_text="When it started waiting (the step's start, the task's creation).")
    url = serializers.SerializerMethodField(help_text="The page and form that do it.")

    def get_url(self, item) -> str:
        return self.context["request"].build_absolute_uri(item.url)


class _Total:
    """What Django's paginator counts: the queue's total, counted by the selector."""

    def __init__(self, total):
        self.total = total

    def count(self):
        return self.total


class QueuePagination(StandardPagination):
    """The API's page number and size (``?page=``, ``?page_size=``); the page
    is read by the selector, which merges its sources up to that page only."""

    def paginate_queue(self, request, user):
        self.request = request
        size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param, "1")
        if not (raw.isascii() and raw.isdigit()) or not raw.lstrip("0") or len(raw) > 6:
            raise exceptions.NotFound("Invalid page.")
        number = int(raw)
        queue = work_queue(user, offset=(number - 1) * size, limit=size)
        if number > 1 and not queue.items:
            raise exceptions.NotFound("Invalid page.")
        self.page = Page(queue.items, number, Paginator(_Total(queue.total), size))
        return queue.items


@extend_schema(summary="What waits on me", responses={200: QueueItemSerializer(many=True), **READ_ERRORS})
class MyQueueView(generics.ListAPIView):
    """What waits on you, oldest first: RFCs to assess or authorise, plans
    awaiting your CAB vote, Go/No-Go decisions, the steps and records of
    releases your roles take or write, baselines to capture, and the tasks
    assigned to you, your teams or your vendor; each with the address of the
    form that does it. The dashboard leads with the same list."""

    serializer_class = QueueItemSerializer
    pagination_class = QueuePagination
    filter_backends = []

    def list(self, request, *args, **kwargs):
        items = self.paginator.paginate_queue(request, request.user)
        return self.get_paginated_response(self.get_serializer(items, many=True).data)

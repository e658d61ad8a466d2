"""Event subscriptions over the REST API (``/api/webhooks/``): subscribe a
URL to event types, read its delivery log, redeliver. These views translate
HTTP to ``webhooks.services`` and back; who may is asked there (release
managers and administrators), for every request."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from releasemgmt.api import READ_ERRORS, WRITE_ERRORS, ModelSerializer, NoInput, StandardPagination
from releasemgmt.authz import manages_integrations
from releasemgmt.input_guard import ID_SCHEMA, parse_id
from releases.choices import OutboxStatus

from . import catalog, services
from .models import Delivery, DeliveryAttempt, Subscription

def event_type_field():
    known = ", ".join(catalog.EVENT_TYPES)
    return serializers.ChoiceField(choices=list(catalog.EVENT_TYPES), error_messages={
        "invalid_choice": f"\"{{input}}\" is not an event type; known: {known}."})
EVENT_TYPES_HELP = "The event types delivered: " + "; ".join(
    f"`{t.name}`: {t.description}" for t in catalog.EVENT_TYPES.values())


class SubscriptionSerializer(ModelSerializer):
    url = serializers.CharField(max_length=500, help_text="Where the events are POSTed: http(s), a public address.")
    event_types = serializers.ListField(child=event_type_field(), allow_empty=False, help_text=EVENT_TYPES_HELP)

    class Meta:
        model = Subscription
        fields = ["id", "url", "description", "event_types", "active", "secret_fingerprint", "created_by",
                  "created_at"]
        read_only_fields = ["secret_fingerprint", "created_by", "created_at"]


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text=(
        "The signing secret (`whsec_…`): shown in this answer only, never again. Verify each delivery with it "
        "(`standardwebhooks.Webhook(secret).verify(body, headers)`)."))

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SubscriptionUpdateSerializer(SubscriptionSerializer):
    url = serializers.CharField(max_length=500, required=False)
    event_types = serializers.ListField(child=event_type_field(), allow_empty=False, required=False,
                                        help_text=EVENT_TYPES_HELP)


class AttemptSerializer(ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["attempt", "at", "status_code", "error", "duration_ms"]


class DeliverySerializer(ModelSerializer):
    status = serializers.SerializerMethodField(help_text="`pending` or `sending` (queued, retried by itself), "
                                                         "`sent`, or `failed` (given up: redeliver it).")
    next_attempt_at = serializers.SerializerMethodField(help_text="While `pending` after a failed attempt: when "
                                                                  "the relay tries again (the backoff).")
    attempts = AttemptSerializer(many=True, read_only=True, help_text="The delivery log, first attempt first.")

    class Meta:
        model = Delivery
        fields = ["id", "webhook_id", "event_type", "status", "next_attempt_at", "created_at", "body", "attempts"]

    def get_status(self, delivery) -> str:
        return delivery.message.status if delivery.message is not None else OutboxStatus.FAILED

    def get_next_attempt_at(self, delivery) -> datetime | None:
        message = delivery.message
        if message is None or message.status != OutboxStatus.PENDING or message.next_attempt_at is None:
            return None
        return serializers.DateTimeField().to_representation(message.next_attempt_at)


DELIVERY_PATH = OpenApiParameter("delivery_id", ID_SCHEMA, OpenApiParameter.PATH, description="The delivery's id.")


@extend_schema_view(
    list=extend_schema(summary="List event subscriptions", responses={200: SubscriptionSerializer(many=True),
                                                                      **READ_ERRORS}),
    retrieve=extend_schema(summary="An event subscription", responses={200: SubscriptionSerializer, **READ_ERRORS}),
    create=extend_schema(summary="Subscribe a URL to event types", request=SubscriptionSerializer,
                         responses={201: SubscriptionCreatedSerializer,
                                    **{k: v for k, v in WRITE_ERRORS.items() if k not in (404, 409, 412)}}),
    partial_update=extend_schema(summary="Change, pause or resume a subscription",
                                 request=SubscriptionUpdateSerializer,
                                 responses={200: SubscriptionSerializer,
                                            **{k: v for k, v in WRITE_ERRORS.items() if k not in (409, 412)}}),
)
class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    """Event subscriptions: an integration subscribes a URL to event types
    and gets each event POSTed, signed per the Standard Webhooks
    specification (`webhook-id`, `webhook-timestamp`, `webhook-signature`),
    with retries and backoff while it does not answer 2xx. For release
    managers and administrators; anyone else gets 403."""

    serializer_class = SubscriptionSerializer
    pagination_class = StandardPagination
    http_method_names = ["get", "post", "patch", "head", "options"]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Looking is not an attempt to act: a read is refused, a write's
        # refusal is kept too.
        if request.method not in SAFE_METHODS:
            services.manage_check(by=request.user)
        elif not manages_integrations(request.user):
            raise exceptions.PermissionDenied(services.MANAGERS_ONLY)

    def get_queryset(self):
        return Subscription.objects.restrict(self.request.user).select_related("created_by").order_by("id")

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=parse_id(self.kwargs["pk"]))

    def create(self, request, *args, **kwargs):
        body = SubscriptionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription, secret = services.subscription_create(by=request.user, **body.validated_data)
        data = SubscriptionCreatedSerializer(subscription).data
        data["secret"] = secret
        return Response(data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def partial_update(self, request, *args, **kwargs):
        subscription = self.get_object()
        body = SubscriptionUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        subscription = services.subscription_update(subscription_id=subscription.pk, by=request.user,
                                                    **body.validated_data)
        return Response(SubscriptionSerializer(subscription).data)

    def _deliveries(self, subscription):
        return (Delivery.objects.restrict(self.request.user).filter(subscription=subscription)
                .select_related("message").prefetch_related(Prefetch("attempts", DeliveryAttempt.objects.all()))
                .order_by("-created_at", "-id"))

    @extend_schema(summary="A subscription's deliveries and their log", responses={
        200: DeliverySerializer(many=True), **READ_ERRORS})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The events sent to this subscription, newest first, each with its
        attempts: when, the HTTP status the subscriber answered, the error."""
        page = self.paginate_queryset(self._deliveries(self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(summary="Redeliver a delivery", request=NoInput, parameters=[DELIVERY_PATH], responses={
        202: DeliverySerializer,
        409: OpenApiResponse(WRITE_ERRORS[409], description="Still queued (`invalid_state`): the relay sends it."),
        **{k: v for k, v in WRITE_ERRORS.items() if k not in (409, 412)}})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        """Send a delivery again, with the same `webhook-id` (so a subscriber
        that has it can tell), e.g. after it failed for good or the
        subscriber lost it; its attempts go on the same log."""
        subscription = self.get_object()
        NoInput(data=request.data).is_valid(raise_exception=True)
        delivery = get_object_or_404(self._deliveries(subscription), pk=parse_id(delivery_id))
        services.redeliver(subscription_id=subscription.pk, delivery_id=delivery.pk, by=request.user)
        return Response(DeliverySerializer(self._deliveries(subscription).get(pk=delivery.pk)).data,
                        status=status.HTTP_202_ACCEPTED)


"""The event subscriptions page: list and subscribe (the secret shown once,
in the answer to the POST that made it), a subscription's delivery log, and
redelivery. For release managers and administrators (``services.manage_check``)."""
from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from releasemgmt.errors import TransitionError
from releasemgmt.authz import manages_integrations
from releasemgmt.ui import error_lines, forbid, refuse_page

from . import catalog, services
from .models import Delivery, DeliveryAttempt, Subscription

DELIVERIES_SHOWN = 50


class SubscriptionForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", help_text="Where the events are POSTed (http or https).")
    event_types = forms.MultipleChoiceField(
        choices=[(t.name, f"{t.name}: {t.description}") for t in catalog.EVENT_TYPES.values()],
        widget=forms.CheckboxSelectMultiple, label="Event types")
    description = forms.CharField(max_length=200, required=False, help_text="Which tool listens, and why.")


def manager_required(view):
    """Release managers and administrators; anyone else gets the 403 page
    (a write sent to it kept as a refused attempt)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not manages_integrations(request.user):
            refuse_page(request, kwargs, services.MANAGERS_ONLY)
        return view(request, *args, **kwargs)

    return wrapped


def _list(request, form, *, created=None, secret="", status=200):
    subscriptions = Subscription.objects.restrict(request.user).select_related("created_by").order_by("id")
    response = render(request, "webhooks/subscription_list.html", {
        "subscriptions": subscriptions, "form": form, "created": created, "secret": secret}, status=status)
    if secret:
        add_never_cache_headers(response)
    return response


@manager_required
def subscription_list_view(request):
    if request.method != "POST":
        return _list(request, SubscriptionForm())
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    try:
        subscription, secret = services.subscription_create(by=request.user, **form.cleaned_data)
    except ValidationError as exc:
        for name, lines in exc.message_dict.items():
            for line in lines:
                form.add_error(name if name in form.fields else None, line)
        return _list(request, form, status=400)
    # The only page that ever shows the secret: the answer to the POST that
    # made it, kept out of every cache, never redirected to.
    return _list(request, SubscriptionForm(), created=subscription, secret=secret)


@manager_required
def subscription_detail_view(request, pk):
    subscription = get_object_or_404(Subscription.objects.restrict(request.user), pk=pk)
    deliveries = list(Delivery.objects.restrict(request.user).filter(subscription=subscription)
                      .select_related("message").prefetch_related(Prefetch("attempts", DeliveryAttempt.objects.all()))
                      .order_by("-created_at", "-id")[:DELIVERIES_SHOWN])
    return render(request, "webhooks/subscription_detail.html", {
        "subscription": subscription, "deliveries": deliveries, "shown": DELIVERIES_SHOWN})


@require_POST
@manager_required
def redeliver_view(request, pk, delivery_id):
    try:
        delivery = services.redeliver(subscription_id=pk, delivery_id=delivery_id, by=request.user)
    except Delivery.DoesNotExist:
        messages.error(request, "No such delivery.")
    except TransitionError as exc:
        if exc.status == 403:
            forbid(exc)
        messages.error(request, " ".join(error_lines(exc)))
    else:
        messages.success(request, f"Delivery {delivery.webhook_id} is queued again.")
    return redirect("webhooks:detail", pk=pk)

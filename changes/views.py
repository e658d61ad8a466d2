"""RFC pages of the browser UI: list, raise, read, edit and decide, each
action a call of ``changes.services``."""
from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render

from releasemgmt.history import transition_logs
from releasemgmt.refusals import permits
from releasemgmt.ui import apply_errors, ask, post_only, post_transition, reader_required, transition_buttons
from releasemgmt.workflow import TransitionError, has_any_role

from .choices import ChangeType, Level, RfcState
from .models import ChangeRequest
from .relations import release_model
from .services import EDITABLE_STATES, rfc_create, rfc_transition, rfc_update, rfc_update_check


class RfcForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}),
                                  help_text="What should change, and why.")
    change_type = forms.ChoiceField(choices=ChangeType.choices, initial=ChangeType.NORMAL, label="Change type")
    risk = forms.ChoiceField(choices=Level.choices, initial=Level.MEDIUM)
    impact = forms.ChoiceField(choices=Level.choices, initial=Level.MEDIUM)


class RfcFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "RFC-00012, title…"}))
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), ("open", "Open")] + list(RfcState.choices))


OPEN_STATES = ("submitted", "assessed", "authorized", "scheduled", "implemented", "reviewed")


@reader_required
def rfc_list_view(request):
    form = RfcFilterForm(request.GET or None)
    qs = ChangeRequest.objects.restrict(request.user).select_related("requester").prefetch_related(
        Prefetch("releases", queryset=release_model().objects.restrict(request.user))).order_by("-pk")
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        if q:
            text = Q(title__icontains=q) | Q(description__icontains=q)
            match = re.fullmatch(r"(?:RFC-?)?0*(\d+)", q, re.IGNORECASE)
            if match:
                text |= Q(pk=int(match.group(1)))
            qs = qs.filter(text)
        state = form.cleaned_data["state"]
        if state == "open":
            qs = qs.filter(state__in=OPEN_STATES)
        elif state:
            qs = qs.filter(state=state)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "changes/rfc_list.html", {"form": form, "page": page, "rfcs": page.object_list})


@reader_required
def rfc_create_view(request):
    form = RfcForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                rfc = rfc_create(by=request.user, **form.cleaned_data)
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"{rfc.number} raised; Change Management will assess it.")
                return redirect("changes:detail", pk=rfc.pk)
    return render(request, "changes/rfc_form.html", {"form": form, "title": "Raise an RFC"}, status=status)


def _may_edit(rfc, user) -> bool:
    return rfc.state in EDITABLE_STATES and permits(rfc_update_check, rfc=rfc, by=user)


@reader_required
def rfc_edit_view(request, pk):
    rfc = get_object_or_404(ChangeRequest.objects.restrict(request.user), pk=pk)
    ask(rfc_update_check, rfc=rfc, by=request.user)
    if rfc.state not in EDITABLE_STATES:
        raise PermissionDenied("An authorised RFC is no longer edited; raise a new one.")
    fields = ("title", "description", "change_type", "risk", "impact")
    form = RfcForm(request.POST or None, initial={f: getattr(rfc, f) for f in fields})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                rfc_update(rfc_id=rfc.pk, by=request.user,
                           **{name: form.cleaned_data[name] for name in form.changed_data})
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"{rfc.number} updated.")
                return redirect("changes:detail", pk=rfc.pk)
    return render(request, "changes/rfc_form.html", {"form": form, "rfc": rfc, "title": f"Edit {rfc.number}"},
                  status=status)


def render_rfc(request, pk, *, status=200, transition=None):
    rfc = get_object_or_404(
        ChangeRequest.objects.restrict(request.user).select_related("requester").prefetch_related(
            Prefetch("releases", queryset=release_model().objects.restrict(request.user).select_related("release_manager"))),
        pk=pk)
    actions = transition_buttons(rfc, request.user, "changes:transition", transition)
    comments = list(rfc.release_closure_comments.restrict(request.user).select_related("release", "created_by"))
    return render(request, "changes/rfc_detail.html", {
        "rfc": rfc, "actions": actions, "logs": list(reversed(transition_logs(rfc))),
        "releases": list(rfc.releases.all()), "closure_comments": comments,
        "may_edit": _may_edit(rfc, request.user),
        "may_release": has_any_role(request.user, ("release_manager",))
        and rfc.state in ("submitted", "assessed", "authorized"),
    }, status=status)


@reader_required
def rfc_detail_view(request, pk):
    return render_rfc(request, pk)


@post_only("changes:detail")
@reader_required
def rfc_transition_view(request, pk, name):
    rfc = get_object_or_404(ChangeRequest.objects.restrict(request.user), pk=pk)
    moved, response = post_transition(
        request, rfc, name, render_page=render_rfc,
        perform=lambda **payload: rfc_transition(rfc_id=rfc.pk, name=name, **payload),
    )
    return response or redirect("changes:detail", pk=moved.pk)

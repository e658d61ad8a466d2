"""CMDB pages of the browser UI: configuration items with their relations
and the releases that touched them; baselines with a diff against another."""
from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from releasemgmt.ui import apply_errors, ask, reader_required, redirect_back
from releasemgmt.workflow import TransitionError

from .choices import CIType
from .forms import BaselineCompareForm
from .models import Baseline, BaselineItem, ConfigurationItem
from .relations import scope_item_model
from .services import baseline_diff, ci_create, ci_create_check, may_register_cis


class CIFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name or version"}))
    ci_type = forms.ChoiceField(required=False, label="Type", choices=[("", "Any type")] + list(CIType.choices))


def _count(rows, field):
    """How many of ``rows`` point at the outer CI through ``field``."""
    counted = rows.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@reader_required
def ci_list_view(request):
    form = CIFilterForm(request.GET or None)
    # Counted per row by subqueries, which run only for the page's fifty rows;
    # joins and GROUP BY counted them for the whole CMDB before paging.
    qs = ConfigurationItem.objects.restrict(request.user).select_related("owner").annotate(
        dependency_count=_count(ConfigurationItem.depends_on.through.objects, "from_configurationitem"),
        release_count=_count(scope_item_model().objects, "ci"),
    ).order_by("name")
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        if q:
            qs = qs.filter(Q(name__icontains=q) | Q(version__icontains=q))
        if form.cleaned_data["ci_type"]:
            qs = qs.filter(ci_type=form.cleaned_data["ci_type"])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "cmdb/ci_list.html", {"form": form, "page": page, "cis": page.object_list,
                                                 "may_add": may_register_cis(request.user)})


class CIRegisterForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="As releases and people will type it.")
    ci_type = forms.ChoiceField(label="Type", choices=CIType.choices, initial=CIType.APPLICATION)
    version = forms.CharField(max_length=100, required=False, help_text="The version running now.")
    next = forms.CharField(required=False, widget=forms.HiddenInput)


@require_http_methods(["GET", "POST"])
@reader_required
def ci_add_view(request):
    """Register a configuration item (configuration managers), e.g. one a
    release's scope named before the CMDB held it: ``?name=`` fills the
    name, ``?next=`` is where to go back once it is registered."""
    ask(ci_create_check, by=request.user)
    status = 200
    if request.method == "POST":
        form = CIRegisterForm(request.POST)
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "next"}
            try:
                ci = ci_create(by=request.user, owner=request.user, **data)
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"{ci.name} is in the CMDB.")
                return redirect_back(request, reverse("cmdb:ci_detail", args=[ci.pk]))
        else:
            status = 400
    else:
        form = CIRegisterForm(initial={"name": request.GET.get("name", "")[:200],
                                       "next": request.GET.get("next", "")[:500]})
    return render(request, "cmdb/ci_add.html", {"form": form}, status=status)


@reader_required
def ci_detail_view(request, pk):
    user = request.user
    ci = get_object_or_404(ConfigurationItem.objects.restrict(user).select_related("owner"), pk=pk)
    touched = list(scope_item_model().objects.restrict(user).filter(ci=ci)
                   .select_related("release", "release__release_manager")
                   .order_by("-release__created_at", "-release_id"))
    in_baselines = list(BaselineItem.objects.restrict(user).filter(ci=ci).select_related("baseline")
                        .order_by("-baseline__created_at", "-baseline_id")[:50])
    history = list(ci.history.select_related("history_user").order_by("-history_date", "-history_id")[:30])
    return render(request, "cmdb/ci_detail.html", {
        "ci": ci,
        "depends_on": list(ci.depends_on.order_by("name")),
        "dependants": list(ci.dependants.order_by("name")),
        "touched": touched,
        "in_baselines": in_baselines,
        "history": history,
        "freezes": list(ci.freeze_windows.restrict(user).order_by("-start")[:10]),
    })


@reader_required
def baseline_list_view(request):
    qs = Baseline.objects.restrict(request.user).select_related("release", "captured_by") \
        .annotate(item_count=Count("items")).order_by("-created_at", "-id")
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "cmdb/baseline_list.html", {"page": page, "baselines": page.object_list})


@reader_required
def baseline_detail_view(request, pk):
    baseline = get_object_or_404(Baseline.objects.restrict(request.user).select_related("release", "captured_by"),
                                 pk=pk)
    form = BaselineCompareForm(request.GET or None, baseline=baseline)
    other = form.cleaned_data.get("against") if form.is_valid() else None
    if other is None and "against" not in request.GET:
        # By default compare with the baseline before it that shares its CIs.
        ci_ids = baseline.items.values("ci")
        other = (Baseline.objects.restrict(request.user)
                 .filter(items__ci__in=ci_ids, created_at__lte=baseline.created_at)
                 .exclude(pk=baseline.pk).order_by("-created_at", "-id").distinct().first())
        if other is not None:
            form = BaselineCompareForm(initial={"against": other.pk}, baseline=baseline)
    diff = baseline_diff(other, baseline) if other is not None else None
    return render(request, "cmdb/baseline_detail.html", {
        "baseline": baseline, "items": list(baseline.items.select_related("ci")), "form": form,
        "other": other, "diff": diff,
    })

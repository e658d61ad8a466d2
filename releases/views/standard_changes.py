"""The standard changes page: every reader sees the standing approvals; a
change manager approves a release template as a standard change for named
CIs, and withdraws one, each signed with their password. Writes go through
``releases.standard_changes``, which decides."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from cmdb.models import ConfigurationItem
from releasemgmt.forms import PasswordField, SigningFormMixin
from releasemgmt.refusals import permits
from releasemgmt.ui import apply_errors, ask, reader_required
from releasemgmt.workflow import TransitionError

from .. import standard_changes
from ..models import ReleaseTemplate, StandardChange


class ApproveForm(SigningFormMixin, forms.Form):
    template = forms.ModelChoiceField(queryset=ReleaseTemplate.objects.filter(active=True), label="Release template")
    cis = forms.CharField(label="Configuration items", max_length=4000,
                          help_text="Their names, separated by commas: a release from the template may change these.")
    note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
                           label="Why it is a standard change")
    password = PasswordField()

    def clean_cis(self):
        names = sorted({n.strip() for n in self.cleaned_data["cis"].split(",") if n.strip()})
        found = list(ConfigurationItem.objects.filter(name__in=names))
        missing = sorted(set(names) - {ci.name for ci in found})
        if missing:
            raise ValidationError(f"No configuration item is named {', '.join(missing)}.")
        if not found:
            raise ValidationError("Name at least one configuration item.")
        return found


class WithdrawForm(SigningFormMixin, forms.Form):
    reason = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}), label="Why withdraw it")
    password = PasswordField()


def _page(request, *, approve=None, withdraw=None, withdrawing=None, status=200):
    standards = list(StandardChange.objects.restrict(request.user).select_related("template", "approved_by",
                                                                                  "withdrawn_by")
                     .prefetch_related("cis"))
    signed = standard_changes.signatures_of(standards)
    for sc in standards:
        sc.approval = signed.get((sc.pk, standard_changes.APPROVE))
        sc.withdrawal = signed.get((sc.pk, standard_changes.WITHDRAW))
        # One form per row, each with its own field ids; the one refused is shown again with its errors.
        sc.withdraw_form = withdraw if withdrawing == sc.pk else WithdrawForm(prefix=f"w{sc.pk}")
    may = permits(standard_changes.standard_change_check, by=request.user)
    return render(request, "releases/standard_changes.html", {
        "standards": standards, "may_decide": may, "approve": approve or (ApproveForm() if may else None),
        "withdraw": withdraw, "withdrawing": withdrawing,
    }, status=status)


@reader_required
def standard_change_list_view(request):
    if request.method != "POST":
        return _page(request)
    ask(standard_changes.standard_change_check, by=request.user)
    form = ApproveForm(request.POST)
    if form.is_valid():
        try:
            standard = standard_changes.standard_change_approve(
                by=request.user, template=form.cleaned_data["template"], cis=form.cleaned_data["cis"],
                note=form.cleaned_data["note"], signature=form.credential())
        except (TransitionError, ValidationError) as exc:
            return _page(request, approve=form, status=apply_errors(form, exc))
        messages.success(request, f"{standard.number}: “{standard.template.name}” is a standard change.")
        return redirect("releases:standard_changes")
    return _page(request, approve=form, status=400)


@reader_required
def standard_change_withdraw_view(request, pk):
    standard = get_object_or_404(StandardChange.objects.restrict(request.user), pk=pk)
    if request.method != "POST":
        return redirect("releases:standard_changes")
    ask(standard_changes.standard_change_check, by=request.user)
    form = WithdrawForm(request.POST, prefix=f"w{standard.pk}")
    if form.is_valid():
        try:
            standard_changes.standard_change_withdraw(standard_change_id=standard.pk, by=request.user,
                                                      reason=form.cleaned_data["reason"], signature=form.credential())
        except (TransitionError, ValidationError) as exc:
            return _page(request, withdraw=form, withdrawing=standard.pk, status=apply_errors(form, exc))
        messages.success(request, f"{standard.number} is withdrawn: plans submitted from now on go to the CAB.")
        return redirect("releases:standard_changes")
    return _page(request, withdraw=form, withdrawing=standard.pk, status=400)

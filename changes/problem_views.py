"""Problem record pages of the browser UI: open one from a rolled-back
release, record the analysis, move it on; each action a call of
``changes.services``."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from releasemgmt.history import transition_logs
from releasemgmt.refusals import permits
from releasemgmt.ui import (
    apply_errors, ask, forbid, post_only, post_transition, reader_required, transition_buttons,
)
from releasemgmt.workflow import TransitionError

from .models import Problem
from .relations import release_model
from .services import problem_create_from_release, problem_transition, problem_update, problem_update_check

TEXT = {"rows": 4, "cols": 60}


class ProblemForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs=TEXT))
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs=TEXT),
                                 help_text="The underlying cause of the failure, once it is known.")
    corrective_actions = forms.CharField(required=False, widget=forms.Textarea(attrs=TEXT),
                                         help_text="What will prevent a recurrence; needed to close.")


def _may_edit(problem, user) -> bool:
    return problem.state != Problem.State.CLOSED and permits(problem_update_check, problem=problem, by=user)


@reader_required
def problem_list_view(request):
    problems = Problem.objects.restrict(request.user).select_related("release", "created_by")
    return render(request, "changes/problem_list.html", {"problems": problems})


def render_problem(request, pk, *, status=200, form=None, transition=None):
    problem = get_object_or_404(Problem.objects.restrict(request.user).select_related("release", "created_by")
                                .prefetch_related("rfcs"), pk=pk)
    actions = transition_buttons(problem, request.user, "changes:problem_transition", transition)
    may_edit = _may_edit(problem, request.user)
    if may_edit and form is None:
        form = ProblemForm(initial={f: getattr(problem, f) for f in ProblemForm.base_fields})
    return render(request, "changes/problem_detail.html", {
        "problem": problem, "actions": actions, "form": form if may_edit else None,
        "logs": list(reversed(transition_logs(problem))), "rfcs": list(problem.rfcs.all()),
    }, status=status)


@reader_required
def problem_detail_view(request, pk):
    if request.method != "POST":
        return render_problem(request, pk)
    problem = get_object_or_404(Problem.objects.restrict(request.user), pk=pk)
    ask(problem_update_check, problem=problem, by=request.user)
    form = ProblemForm(request.POST, initial={f: getattr(problem, f) for f in ProblemForm.base_fields})
    if not form.is_valid():
        return render_problem(request, pk, status=400, form=form)
    try:
        problem_update(problem_id=problem.pk, by=request.user,
                       **{name: form.cleaned_data[name] for name in form.changed_data})
    except (TransitionError, ValidationError) as exc:
        return render_problem(request, pk, status=apply_errors(form, exc), form=form)
    messages.success(request, f"{problem.number} updated.")
    return redirect("changes:problem_detail", pk=problem.pk)


@post_only("releases:detail", "release_pk")
@reader_required
def problem_open_view(request, release_pk):
    """The release page's "Open a problem record" button."""
    release = get_object_or_404(release_model().objects.restrict(request.user), pk=release_pk)
    try:
        problem = problem_create_from_release(release_id=release.pk, by=request.user)
    except TransitionError as exc:
        if exc.status == 403:
            forbid(exc)
        existing = Problem.objects.restrict(request.user).filter(release=release).first()
        if existing is not None:  # someone opened it meanwhile: show that one
            messages.info(request, exc.detail)
            return redirect("changes:problem_detail", pk=existing.pk)
        messages.error(request, exc.detail)
        return redirect("releases:detail", pk=release.pk)
    messages.success(request, f"{problem.number} opened for the root cause analysis of {release.number}.")
    return redirect("changes:problem_detail", pk=problem.pk)


@post_only("changes:problem_detail")
@reader_required
def problem_transition_view(request, pk, name):
    problem = get_object_or_404(Problem.objects.restrict(request.user), pk=pk)
    moved, response = post_transition(
        request, problem, name, render_page=render_problem,
        perform=lambda **payload: problem_transition(problem_id=problem.pk, name=name, **payload),
    )
    return response or redirect("changes:problem_detail", pk=moved.pk)

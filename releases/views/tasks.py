"""The task board of teams and vendors, a task's page, and its transitions."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from releasemgmt.authz import reader as policy_reader
from releasemgmt.input_guard import parse_id
from releasemgmt.forms import TransitionForm
from releasemgmt.history import transition_logs
from releasemgmt.refusals import transition_check
from releasemgmt.ui import apply_errors, ask, error_lines, forbid, post_only, redirect_back, role_required
from releasemgmt.workflow import TransitionError, specs

from .. import services
from ..forms import TaskForm, changed_values
from ..models import Task
from ..selectors import Membership, task_actions, task_board
from .checks import with_live_checks

COLUMNS = (("open", "Open"), ("in_progress", "In progress"), ("blocked", "Blocked"), ("done", "Done"))


@role_required
def task_board_view(request):
    user = request.user
    member = Membership.of(user)
    reader = policy_reader(user).internal
    default = "all" if "release_manager" in member.roles else "mine"
    scope = request.GET.get("scope", default) if reader else "vendor"
    if scope not in ("mine", "all", "vendor"):
        scope = default
    release_id = request.GET.get("release")
    release_id = parse_id(release_id) if release_id else None
    # ?column=open&page=2: the next cards of one column; the others show their first page.
    column = request.GET.get("column")
    page = request.GET.get("page", "")
    page = int(page) if page.isdigit() and len(page) < 7 else 1
    columns = task_board(user, member, "mine" if scope == "mine" else "all", release_id,
                         column=column, page=page)
    for col in columns.values():
        for task in col.object_list:
            task.actions = task_actions(task, member)
            for action in task.actions:
                action["form"] = TransitionForm(user=user, reason=action["reason_required"],
                                                prefix=f"t{task.pk}-{action['name']}")
    return render(request, "releases/task_board.html", {
        "columns": [(key, label, columns[key]) for key, label in COLUMNS],
        "scope": scope, "reader": reader, "release_id": release_id,
        "vendors": list(user.vendors.all()) if not reader else [],
        "now": timezone.now(),
    })


def _task_or_404(request, pk):
    return get_object_or_404(Task.objects.restrict(request.user).select_related(
        "release", "assignee_user", "assignee_team", "assignee_vendor"), pk=pk)


@role_required
def task_detail_view(request, pk):
    task = _task_or_404(request, pk)
    member = Membership.of(request.user)
    may_edit = member.task_actor(task) and task.state not in ("done", "cancelled")
    assignee_only = "release_manager" not in member.roles
    form = None
    status = 200
    if may_edit:
        initial = {name: getattr(task, name) for name in TaskForm.base_fields}
        form = with_live_checks(TaskForm(request.POST or None, initial=initial, assignee_only=assignee_only),
                                task.release)
    if request.method == "POST":
        if form is None:
            ask(services.task_update_check, task=task, by=request.user)
            raise PermissionDenied("A finished task cannot be edited.")
        status = 400
        if form.is_valid():
            changed = changed_values(form)
            try:
                services.task_update(task_id=task.pk, by=request.user, **changed)
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"Task '{task.title}' updated.")
                return redirect_back(request, reverse("releases:task", args=[task.pk]))
    actions = task_actions(task, member)
    for action in actions:
        action["form"] = TransitionForm(user=request.user, reason=action["reason_required"],
                                        prefix=f"t{task.pk}-{action['name']}")
    return render(request, "releases/task_detail.html", {
        "task": task, "form": form, "actions": actions, "logs": list(reversed(transition_logs(task))),
        "reader": policy_reader(request.user).internal,
    }, status=status)


@post_only("releases:task")
@role_required
def task_transition_view(request, pk, name):
    task = _task_or_404(request, pk)
    spec = specs(Task).get(name)
    if spec is None:
        raise Http404("No such transition.")
    ask(transition_check, obj=task, spec=spec, by=request.user)
    form = TransitionForm(request.POST, user=request.user, reason=spec.reason, prefix=f"t{task.pk}-{name}")
    if not form.is_valid():
        for errors in form.errors.values():
            for e in errors:
                messages.error(request, f"{task.title}: {e}")
        return redirect_back(request, reverse("releases:task", args=[task.pk]))
    try:
        task = services.task_transition(task_id=task.pk, name=name, by=request.user, **form.payload())
    except TransitionError as exc:
        if exc.status == 403:
            forbid(exc)
        for line in error_lines(exc):
            messages.error(request, f"{task.title}: {line}")
    else:
        messages.success(request, f"Task “{task.title}” is now “{task.get_state_display()}”.")
    return redirect_back(request, reverse("releases:task", args=[task.pk]))

"""The release list, raising a release, and the release page with everything
done on it: transitions, step records, scope, tasks, the restore point."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms.models import ModelChoiceIterator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods
from django_htmx.http import retarget

from cmdb.services import may_register_cis
from releasemgmt.authz import keep_visible
from releasemgmt.forms import TransitionForm
from releasemgmt.history import transition_logs
from releasemgmt.refusals import permits
from releasemgmt.ui import (
    apply_errors, ask, error_lines, forbid, post_only, post_transition, reader_required, target_label,
)
from releasemgmt.workflow import TransitionError, available, name_of, specs

from .. import services
from ..choices import STATE_STEP, STEPS, ReleaseType
from ..forms import (
    AcceptanceForm,
    ReleaseCreateForm,
    ReleaseEditForm,
    ReleaseFilterForm,
    ScopeForm,
    TaskForm,
    changed_values,
    record_form,
    writable_fields,
)
from ..models import RECORD_TYPES, Release, Task
from ..template_services import release_create_from_template
from ..selectors import (
    BLOCKER_TARGETS,
    NO_GENERIC_FORM,
    Membership,
    delivery_log,
    process_tracker,
    release_creation,
    release_for_page,
    release_list,
    task_actions,
    vote_tally,
)
from .blockers import blocker_href
from .checks import with_live_checks
from .common import with_page_renderer
from .inplace import chosen_step, needed_now, record_offers, saved, save_offers
from .. import step_services

# What a record's card shows, beyond the fields its writer fills in.
EXTRA_DISPLAY = {
    "plans": ["version"],
}
# Cancelling is offered apart from the next steps; the CAB's decisions on a
# plan are also taken on the CAB review page, which answers for them there.
CANCEL = name_of(Release.cancel)
# Activities are assigned at step 3 ("Assign activities and publish the calendar").
ASSIGN_STEP = 3
CAB_DECISIONS = (name_of(Release.approve_plan), name_of(Release.reject_plan))
DISPLAY_ONLY = {
    "votes": ["decision", "comment"],
    "go_decisions": ["decision", "reason"],
    "deployments": ["started_at", "completed_at", "outcome", "environment", "run_url", "commit", "log_url",
                    "freeze_override_reason", "notes"],
    # Its audience in words; its recipients and their outcome are drawn apart.
    "communications": ["kind", "subject", "body", "audience", "sent_at"],
}


# --- the list ------------------------------------------------------------------------------


@reader_required
def release_list_view(request):
    form = ReleaseFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = release_list(request.user, **{k: v for k, v in filters.items() if v not in ("", None)})
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "releases/release_list.html", {
        "form": form, "page": page, "releases": page.object_list,
        "may_create": permits(services.release_create_check, by=request.user),
    })


@reader_required
def release_create_view(request):
    ask(services.release_create_check, by=request.user)
    initial = {}
    if request.GET.get("rfc"):
        initial["rfcs"] = [x for x in request.GET.getlist("rfc") if x.isdigit()]
    form = ReleaseCreateForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        template = data.pop("template", None)
        try:
            if template is not None:
                release = release_create_from_template(by=request.user, template=template, **data)
            else:
                release = services.release_create(by=request.user, **data)
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            messages.success(request, f"{release.number} raised. Next: start planning.")
            return redirect("releases:detail", pk=release.pk)
    elif request.method == "POST":
        status = 400
    return render(request, "releases/release_form.html", {"form": form, "title": "Raise a release ticket"},
                  status=status)


@reader_required
def release_edit_view(request, pk):
    release = _release_or_404(request, pk)
    ask(services.release_update_check, release=release, by=request.user)
    if release.state in ("closed", "cancelled"):
        raise PermissionDenied("A closed or cancelled release cannot be edited.")
    form = ReleaseEditForm(request.POST or None, release=release)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.release_update(release_id=release.pk, by=request.user, **form.changed_values())
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"{release.number} updated.")
                return redirect("releases:detail", pk=release.pk)
        else:
            status = 400
    return render(request, "releases/release_form.html",
                  {"form": form, "release": release, "title": f"Edit {release.number}"}, status=status)


# --- the release page ---------------------------------------------------------------------


class _FetchedChoices(ModelChoiceIterator):
    """A dropdown's model choices read by one plain query, kept on the form's
    own queryset. Django's iterator reads them through ``iterator()``, which on
    PostgreSQL opens a server-side cursor per dropdown (declare, fetch, close):
    round trips a page of a few hundred options gains nothing from."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


def _fetch_choices_once(*forms):
    for form in forms:
        for field in form.fields.values() if form is not None else ():
            if getattr(field, "iterator", None) is ModelChoiceIterator:
                field.iterator = _FetchedChoices
                field.widget.choices = field.choices


def _record_sections(release, user, bound_type=None, bound_form=None, transitions=(), since=None):
    """The step records, grouped by step: what exists, and the add form where
    this user may write that record now."""
    by_step: dict[int, list] = {}
    current_step = STATE_STEP.get(release.state)
    needed = needed_now(transitions)
    for record_type, model in RECORD_TYPES.items():
        rows = list(getattr(release, record_type).all())
        if record_type == "plans":
            rows.reverse()  # the current version first
        may_write = permits(services.record_writer_check, model=model, release=release, by=user) \
            and release.state in model.open_states and record_type not in NO_GENERIC_FORM
        bound = bound_type == record_type
        if not rows and not may_write and not bound and record_type != "votes":
            continue
        if record_type == "votes" and not rows and release.state != "plan_submitted":
            continue
        if record_type in DISPLAY_ONLY:
            fields = DISPLAY_ONLY[record_type]
        else:
            fields = EXTRA_DISPLAY.get(record_type, []) + writable_fields(record_type)
        # The add form is drawn in the page where the work is now: every
        # record of the open step (this step and the next, those a blocker
        # names, those already written since the release came to this state:
        # the second test case, the second result), or one that came back
        # with errors (shown in place, even if the step has closed since).
        # Other records are added on their own page, a link away: a dozen
        # folded forms were much of the page's work.
        open_now = bound or (may_write and (
            model.step in (current_step, (current_step or 0) + 1) or record_type in needed
            or (since is not None and any(r.created_at >= since for r in rows))))
        form = None
        if bound:
            form = bound_form
        elif open_now:
            form = record_form(record_type, release)
        by_step.setdefault(model.step or 0, []).append({
            "type": record_type,
            "title": capfirst(model._meta.verbose_name_plural),
            "name": str(model._meta.verbose_name),
            "rows": rows,
            "fields": fields,
            "form": form,
            "may_write": may_write,
            "editable": may_write and not model.immutable,
            "immutable": model.immutable,
            "add_url": reverse("releases:record_add", args=[release.pk, record_type]),
            # "Save and submit the plan": the steps this record may complete.
            "then": record_offers(transitions, record_type, model.step) if form is not None else [],
        })
    return [(step, STEPS.get(step, "Other"), sections) for step, sections in sorted(by_step.items())]


def _open_steps(release, step_records) -> set:
    """Step sections shown unfolded: the current step, and those where this
    user can write a record now (a form in place, or a link to its page)."""
    current = STATE_STEP.get(release.state)
    steps = {current} if current else set()
    for step, _, sections in step_records:
        if any(sec["may_write"] or sec["form"] is not None for sec in sections):
            steps.add(step)
        if release.state == "plan_submitted" and any(sec["type"] == "votes" for sec in sections):
            steps.add(step)
    return steps


def _transitions(release, user, bound=None):
    """``workflow.available`` for this user, each with its form and any error."""
    rows = []
    for t in available(release, user, with_rows=True):
        t = dict(t)
        name = t["name"]
        t["signed"] = t["signature_required"]
        t["target_label"] = target_label(Release, t["target"])
        t["setback"] = specs(Release)[name].setback
        t["url"] = reverse("releases:transition", args=[release.pk, name])
        if bound and bound[0] == name:
            t["form"], t["errors"] = bound[1], bound[2]
        else:
            t["form"] = TransitionForm(user=user, reason=t["reason_required"], signed=t["signed"],
                                       freeze_override=_freeze_override(release, name), prefix=name)
            t["errors"] = []
        t["forbidden"] = any(b["code"] == "role_forbidden" for b in t["blockers"])
        for b in t["blockers"]:
            b["href"] = blocker_href(release, b["code"], b.pop("about", None))
        rows.append(t)
    return rows


def _freeze_override(release, name):
    """An emergency release may take a step inside a freeze with a reason,
    where the step takes one (``freeze_override_reason``)."""
    spec = specs(Release).get(name)
    return (spec is not None and "freeze_override_reason" in spec.fields
            and release.release_type == ReleaseType.EMERGENCY)


def _unknown_ci(release, user, scope_form):
    """A CI typed in the scope form that the CMDB does not hold: its name, and
    the way to register it for those who may (back to the scope after)."""
    if scope_form is None or not scope_form.has_error("ci", "invalid_choice"):
        return None
    name = str(scope_form.data.get(scope_form.add_prefix("ci"), "")).strip()[:200]
    add_url = ""
    if may_register_cis(user):
        back = reverse("releases:detail", args=[release.pk]) + "#scope"
        add_url = reverse("cmdb:ci_add") + "?" + urlencode({"name": name, "next": back})
    return {"name": name, "add_url": add_url}


def render_release(request, pk, *, status=200, transition=None, record=None, scope_form=None, task_form=None,
                   baseline_errors=None, acceptance_form=None, body_only=False):
    """The release page; ``body_only``: its body alone, with the messages,
    as htmx swaps it in place after a form (``inplace``)."""
    user = request.user
    try:
        release = release_for_page(pk, user)
    except Release.DoesNotExist:
        raise Http404("No such release.") from None
    member = Membership.of(user)
    logs = transition_logs(release)
    creator, created_at = release_creation(release)
    transitions = _transitions(release, user, transition)
    main = [t for t in transitions if t["name"] != CANCEL]
    cancel = next((t for t in transitions if t["name"] == CANCEL and not t["forbidden"]), None)
    may_scope = permits(services.scope_check, release=release, by=user) \
        and release.state in services.EDITABLE_RELEASE_STATES
    step_records = _record_sections(release, user, *(record or (None, None)), transitions=transitions,
                                    since=logs[-1].at if logs else release.created_at)
    # All its tasks are read (the guards count them); shown, those this user may see.
    tasks = keep_visible(list(release.tasks.all()), Task.objects.restrict(user))
    for task in tasks:
        task.actions = task_actions(task, member)
    ctx = {
        "release": release,
        "tracker": process_tracker(release, logs, creator, created_at),
        "transitions": main,
        "allowed": [t for t in main if t["allowed"]],
        "waiting": [t for t in main if not t["allowed"]],
        "cancel": cancel,
        "step_records": step_records,
        "open_steps": _open_steps(release, step_records),
        "logs": list(reversed(logs)),
        "outbox": delivery_log(release, user),
        "tasks": tasks,
        "rfcs": list(release.rfcs.all()),
        "scope": list(release.scope_items.all()),
        "baselines": list(release.baselines.all()),
        "tally": vote_tally(release) if release.state == "plan_submitted" else None,
        "may_edit": permits(services.release_update_check, release=release, by=user)
        and release.state not in ("closed", "cancelled"),
        "scope_form": (scope_form or ScopeForm(prefix="scope")) if may_scope else None,
        "unknown_ci": _unknown_ci(release, user, scope_form),
        # Planning a task is a link to its own page; the form is drawn here
        # when activities are assigned (step 3), or when it came back with errors.
        "task_form": task_form,
        "may_plan_tasks": permits(services.task_create_check, by=user) and release.state in services.TASK_EDITABLE,
        "may_capture": permits(services.release_baseline_check, release=release, by=user)
        and release.state in ("packaging", "building")
        and release.pre_release_baseline is None,
        "baseline_errors": baseline_errors or [],
        "step": STATE_STEP.get(release.state),
        "step_title": STEPS.get(STATE_STEP.get(release.state)),
        **_problem_context(release, user),
    }
    if ctx["task_form"] is None and ctx["may_plan_tasks"] and release.state == "plan_approved":
        ctx["task_form"] = TaskForm(prefix="task")
    ctx["task_then"] = save_offers(main, lambda code: BLOCKER_TARGETS.get(code) == "#tasks",
                                   same_step=ASSIGN_STEP) if ctx["task_form"] is not None else []
    ctx.update(_acceptance(release, main, ctx["may_edit"], acceptance_form))
    forms = with_page_renderer(ctx["scope_form"], ctx["task_form"], ctx["acceptance_form"],
                               *(t["form"] for t in transitions),
                               *(sec["form"] for _, _, sections in step_records for sec in sections))
    _fetch_choices_once(*forms)
    for form in forms:
        with_live_checks(form, release)
    template = "releases/release_body_swap.html" if body_only else "releases/release_detail.html"
    return render(request, template, ctx, status=status)


def _acceptance(release, transitions, may_edit, bound=None) -> dict:
    """The acceptance criteria written in place while the ticket lacks them
    (step 9 asks for them), and the step saving them may complete."""
    if bound is None and not (may_edit and not release.acceptance_criteria):
        return {"acceptance_form": None, "acceptance_then": []}
    return {"acceptance_form": bound or AcceptanceForm(prefix="acceptance"),
            "acceptance_then": save_offers(transitions, lambda code: code == "acceptance_criteria_missing")}


def render_body(request, pk, **kwargs):
    return render_release(request, pk, body_only=True, **kwargs)


def _problem_context(release, user) -> dict:
    """A rolled-back release offers a problem record for root cause analysis
    (step 17), or links to the one already opened."""
    from changes.models import Problem
    from changes.services import problem_offered

    if release.state not in ("rolling_back", "rolled_back", "closed"):
        return {}
    problem = Problem.objects.restrict(user).filter(release=release).first()
    return {"problem": problem, "may_open_problem": problem is None and problem_offered(release, user)}


@reader_required
def release_detail_view(request, pk):
    return render_release(request, pk)


def _release_or_404(request, pk):
    return get_object_or_404(Release.objects.restrict(request.user), pk=pk)


@post_only("releases:detail")
@reader_required
def release_transition_view(request, pk, name):
    release = _release_or_404(request, pk)
    # The CAB's decision is also taken on the review page; answer there.
    from_cab = request.POST.get("from") == "cab" and name in CAB_DECISIONS
    if from_cab:
        from .cab import render_review as render_page
    else:
        render_page = render_release
    moved, response = post_transition(
        request, release, name, render_page=render_page,
        perform=lambda **payload: services.release_transition(release_id=release.pk, name=name, **payload),
        freeze_override=_freeze_override(release, name),
    )
    if response:
        return response
    if from_cab:
        return redirect("releases:cab_review", pk=moved.pk)
    return redirect(reverse("releases:detail", args=[moved.pk]) + "#next-steps")


# --- step records -------------------------------------------------------------------------------


def _record_model(record_type):
    model = RECORD_TYPES.get(record_type)
    if model is None or record_type in NO_GENERIC_FORM:
        raise Http404("No such record type.")
    return model


@require_http_methods(["GET", "POST"])
@reader_required
def record_add_view(request, pk, record_type):
    """GET: the record's form on a page of its own (the release page links
    to it); POST: add it."""
    model = _record_model(record_type)
    release = _release_or_404(request, pk)
    ask(services.record_writer_check, model=model, release=release, by=request.user)
    if request.method == "GET":
        name = model._meta.verbose_name
        return render(request, "releases/record_form.html", {
            "release": release, "form": with_live_checks(record_form(record_type, release), release), "name": name,
            "title": f"Add a {name}" if record_type != "plans" or not release.plans.exists()
            else "Write a new version of the plan",
            "record_type": record_type, "open": release.state in model.open_states,
        })
    form = record_form(record_type, release, data=request.POST)
    status, then = 400, chosen_step(request)
    if form.is_valid():
        try:
            if then:
                _, moved = step_services.record_add_and_take(
                    release_id=release.pk, record_type=record_type, then=then, by=request.user, **form.cleaned_data)
            else:
                services.record_add(release_id=release.pk, record_type=record_type, by=request.user,
                                    **form.cleaned_data)
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            _saved_message(request, model, "recorded", moved if then else None)
            return saved(request, pk, f"#rec-{record_type}", moved=bool(then), render_body=render_body)
    return (render_body if request.htmx else render_release)(request, pk, status=status,
                                                             record=(record_type, form))


def _saved_message(request, model, done, moved):
    text = f"{capfirst(model._meta.verbose_name)} {done}."
    if moved is not None:
        text += f" {moved.number} is now “{moved.get_state_display()}”."
    messages.success(request, text)


@reader_required
def record_edit_view(request, pk, record_type, record_id):
    model = _record_model(record_type)
    release = _release_or_404(request, pk)
    record = get_object_or_404(model.objects.restrict(request.user), pk=record_id, release=release)
    ask(services.record_writer_check, model=model, release=release, by=request.user)
    if model.immutable:
        raise PermissionDenied(f"A {model._meta.verbose_name} is kept as written; add a new one instead.")
    form = record_form(record_type, release, data=request.POST or None, instance=record)
    status, then = 200, chosen_step(request)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            changed = changed_values(form)
            try:
                if then:
                    _, moved = step_services.record_update_and_take(
                        release_id=release.pk, record=record, then=then, by=request.user, **changed)
                else:
                    services.record_update(record=record, by=request.user, **changed)
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                _saved_message(request, model, "updated", moved if then else None)
                return saved(request, pk, f"#rec-{record_type}", moved=bool(then), render_body=render_body)
    ctx = {"release": release, "record": record, "form": with_live_checks(form, release),
           "name": model._meta.verbose_name,
           "open": release.state in model.open_states, "record_type": record_type}
    with_page_renderer(form)
    if request.htmx:
        # Edited in place: the record's card becomes its form (and comes back so with its errors).
        ctx["then"] = record_offers(_transitions(release, request.user), record_type, model.step)
        response = render(request, "releases/record_edit_inline.html", ctx, status=status)
        return retarget(response, f"#rec-{record_type}-{record.pk}") if request.method == "POST" else response
    return render(request, "releases/record_form.html", ctx, status=status)


# --- scope, tasks, baseline -----------------------------------------------------------------------


@post_only("releases:detail")
@reader_required
def scope_add_view(request, pk):
    release = _release_or_404(request, pk)
    ask(services.scope_check, release=release, by=request.user)
    form = ScopeForm(request.POST, prefix="scope")
    status = 400
    if form.is_valid():
        try:
            item = services.scope_set(release_id=release.pk, by=request.user, **form.cleaned_data)
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            messages.success(request, f"{item.ci.name} → {item.target_version} is in scope.")
            return saved(request, pk, "#scope", moved=False, render_body=render_body)
    return (render_body if request.htmx else render_release)(request, pk, status=status, scope_form=form)


@require_http_methods(["GET", "POST"])
@reader_required
def task_add_view(request, pk):
    """GET: the form on a page of its own (the release page links to it);
    POST: plan the task."""
    release = _release_or_404(request, pk)
    ask(services.task_create_check, by=request.user)
    if request.method == "GET":
        return render(request, "releases/record_form.html", {
            "release": release, "form": with_live_checks(TaskForm(prefix="task"), release), "name": "task",
            "title": "Plan a task",
            "open": release.state in services.TASK_EDITABLE, "task": True,
        })
    form = TaskForm(request.POST, prefix="task")
    status, then = 400, chosen_step(request)
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            if then:
                task, moved = step_services.task_create_and_take(release_id=release.pk, then=then, by=request.user,
                                                                 **data)
            else:
                task = services.task_create(release_id=release.pk, by=request.user, **data)
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            messages.success(request, f"Task '{task.title}' planned."
                             + (f" {moved.number} is now “{moved.get_state_display()}”." if then else ""))
            return saved(request, pk, "#tasks", moved=bool(then), render_body=render_body)
    return (render_body if request.htmx else render_release)(request, pk, status=status, task_form=form)


@post_only("releases:detail")
@reader_required
def acceptance_view(request, pk):
    """The ticket's acceptance criteria, written in place (step 9), and
    with them, if offered, the step they complete."""
    release = _release_or_404(request, pk)
    ask(services.release_update_check, release=release, by=request.user)
    form = AcceptanceForm(request.POST, prefix="acceptance")
    status, then = 400, chosen_step(request)
    if form.is_valid():
        try:
            if then:
                moved = step_services.release_update_and_take(release_id=release.pk, then=then, by=request.user,
                                                             **form.cleaned_data)
            else:
                services.release_update(release_id=release.pk, by=request.user, **form.cleaned_data)
        except (TransitionError, ValidationError) as exc:
            status = apply_errors(form, exc)
        else:
            messages.success(request, f"{release.number}: acceptance criteria documented."
                             + (f" It is now “{moved.get_state_display()}”." if then else ""))
            return saved(request, pk, "#ticket", moved=bool(then), render_body=render_body)
    return (render_body if request.htmx else render_release)(request, pk, status=status, acceptance_form=form)


@post_only("releases:detail")
@reader_required
def baseline_capture_view(request, pk):
    release = _release_or_404(request, pk)
    ask(services.release_baseline_check, release=release, by=request.user)
    try:
        baseline = services.release_capture_baseline(release_id=release.pk, by=request.user)
    except TransitionError as exc:
        if exc.status == 403:
            forbid(exc)
        return render_release(request, pk, status=exc.status, baseline_errors=error_lines(exc))
    messages.success(request, f"Baseline '{baseline.name}' captured: the restore point.")
    return redirect(reverse("releases:detail", args=[release.pk]) + "#baselines")


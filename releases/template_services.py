"""Release template use cases: keeping the release models, and raising a
release from one.

Templates belong to release managers: nobody else writes them. A release
raised from a template gets its content through the ordinary services
(``task_create``, ``record_add``), so roles, the steps' open states, history
and the outbox behave exactly as if the release manager had typed it in.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionForbidden, has_any_role

from . import services
from .models import Release, ReleaseTemplate, TemplateTask, TemplateTestCase

RM = ("release_manager",)

TEMPLATE_FIELDS = {"name", "release_type", "description", "active", "scope", "deployment_approach", "risks",
                   "teams", "downtime_expected", "notes", "rollback_plan"}
TASK_FIELDS = {"title", "description", "step", "team", "vendor", "offset_start", "offset_end"}
TEST_CASE_FIELDS = {"name", "description", "mandatory"}


def _template_subject(kwargs):
    return ReleaseTemplate, kwargs["template_id"]


@logs_refusals()
def template_create_check(*, by) -> None:
    """Templates belong to release managers."""
    if not has_any_role(by, RM):
        raise TransitionForbidden("create_template", "Only a release manager may keep release templates.")


@logs_refusals(subject=lambda kw: (ReleaseTemplate, kw["template"].pk))
def template_update_check(*, template, by) -> None:
    if not has_any_role(by, RM):
        raise TransitionForbidden("update_template", "Only a release manager may keep release templates.")


def _check_keys(data: dict, allowed: set, what: str):
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({name: f"A {what} has no field '{name}'." for name in sorted(unknown)})


def _save(obj, by):
    obj.full_clean()
    obj._history_user = by
    obj.save()
    return obj


def _sync_items(template, by, model, rows, allowed, what, related_name):
    """Make the template's items of one kind exactly ``rows``: a row with an
    ``id`` edits that item, one without adds an item, and items not named are
    removed (their history keeps them)."""
    existing = {item.pk: item for item in getattr(template, related_name).all()}
    keep = set()
    for index, row in enumerate(rows):
        row = dict(row)
        pk = row.pop("id", None)
        _check_keys(row, allowed, what)
        if pk is not None:
            item = existing.get(pk)
            if item is None:
                raise ValidationError({related_name: f"Item {index + 1}: {what} #{pk} is not part of this template."})
            keep.add(pk)
        else:
            item = model(template=template)
        for key, value in row.items():
            setattr(item, key, value)
        try:
            _save(item, by)
        except ValidationError as exc:
            messages = exc.messages if not hasattr(exc, "error_dict") else [
                f"{field.replace('_', ' ')}: {m}" for field, ms in exc.message_dict.items() for m in ms]
            raise ValidationError({related_name: [f"Item {index + 1}: {m}" for m in messages]}) from exc
    for pk, item in existing.items():
        if pk not in keep:
            item._history_user = by
            item.delete()


@logs_refusals()
@transaction.atomic
def template_create(*, by, name: str, release_type: str, tasks=(), test_cases=(), **fields) -> ReleaseTemplate:
    """Define a release model: its activities, tests, plan sections and rollback skeleton."""
    template_create_check(by=by)
    _check_keys(fields, TEMPLATE_FIELDS, "release template")
    template = _save(ReleaseTemplate(name=name, release_type=release_type, created_by=by, **fields), by)
    _sync_items(template, by, TemplateTask, tasks, TASK_FIELDS, "template task", "tasks")
    _sync_items(template, by, TemplateTestCase, test_cases, TEST_CASE_FIELDS, "template test case", "test_cases")
    return template


@logs_refusals(subject=_template_subject)
@transaction.atomic
def template_update(*, template_id, by, tasks=None, test_cases=None, **fields) -> ReleaseTemplate:
    """Edit a template. ``tasks`` and ``test_cases``, when given, replace the
    template's items (rows with an ``id`` are edited in place). Releases
    already raised from it keep what they were given."""
    template = ReleaseTemplate.objects.select_for_update().get(pk=template_id)
    template_update_check(template=template, by=by)
    _check_keys(fields, TEMPLATE_FIELDS, "release template")
    for key, value in fields.items():
        setattr(template, key, value)
    _save(template, by)
    if tasks is not None:
        _sync_items(template, by, TemplateTask, tasks, TASK_FIELDS, "template task", "tasks")
    if test_cases is not None:
        _sync_items(template, by, TemplateTestCase, test_cases, TEST_CASE_FIELDS, "template test case",
                    "test_cases")
    return template


@logs_refusals()
@transaction.atomic
def release_create_from_template(*, by, template, **release_fields) -> Release:
    """Raise a release ticket (step 1) from a release template.

    What a release manager gets, in one transaction (any refusal leaves
    nothing behind):

    * the ticket itself, through ``release_create``, remembering the template;
    * one activity per template task, through ``task_create``, assigned to
      the task's team or vendor queue and planned at the window's start plus
      the task's offsets (no dates when the release has no planned start:
      the release manager plans them when the window is known);
    * the template's test cases, through ``record_add`` (their step is open
      from the start);
    * a draft plan (version 1) with the template's sections, through
      ``record_add``: the plan may be drafted while the ticket is new. Its
      deployment window is left for the release manager, who submits a
      completed version.

    The rollback plan skeleton is not written here: a rollback plan may only
    be written once planning has started, so it is added by the effect
    ``releases.effects.apply_template`` of the step that starts planning, as
    the release manager's own record.
    """
    services.release_create_check(by=by)
    template = ReleaseTemplate.objects.prefetch_related("tasks", "test_cases").get(
        pk=getattr(template, "pk", template))
    if not template.active:
        raise ValidationError({"template": f"The template “{template.name}” is retired; choose an active one."})
    release_type = release_fields.get("release_type")
    if release_type != template.release_type:
        raise ValidationError({"template": f"The template “{template.name}” is for "
                                           f"{template.get_release_type_display().lower()} releases, not "
                                           f"{str(release_type or 'untyped').lower()} ones."})
    release = services.release_create(by=by, **release_fields)
    release.template = template
    release._history_user = by
    release._change_reason = "create from template"
    release.save(update_fields=["template", "updated_at"])
    window = release.planned_start
    for item in template.tasks.all():
        assignee = {"assignee_vendor": item.vendor} if item.vendor_id else {"assignee_team": item.team}
        services.task_create(release_id=release.pk, by=by, title=item.title, step=item.step,
                             description=item.description,
                             planned_start=window + item.offset_start if window else None,
                             planned_end=window + item.offset_end if window else None, **assignee)
    for case in template.test_cases.all():
        services.record_add(release_id=release.pk, record_type="test_cases", by=by, name=case.name,
                            description=case.description, mandatory=case.mandatory)
    if template.has_plan_sections:
        services.record_add(release_id=release.pk, record_type="plans", by=by,
                            **{f: getattr(template, f) for f in ReleaseTemplate.PLAN_FIELDS})
    return release

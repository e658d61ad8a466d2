"""Release template pages: the list (every reader), and the form where a
release manager defines or edits a template with its tasks and test cases.
Writes go through ``releases.template_services``."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from releasemgmt.refusals import permits
from releasemgmt.ui import apply_errors, ask, reader_required
from releasemgmt.workflow import TransitionError

from .. import template_services
from ..models import ReleaseTemplate
from ..template_forms import (
    ReleaseTemplateForm,
    TaskFormSet,
    TemplateTaskForm,
    TemplateTestCaseForm,
    TestCaseFormSet,
    formset_rows,
)


@reader_required
def template_list_view(request):
    templates = ReleaseTemplate.objects.restrict(request.user).annotate(task_count=Count("tasks", distinct=True),
                                                 test_count=Count("test_cases", distinct=True),
                                                 release_count=Count("releases", distinct=True))
    return render(request, "releases/template_list.html", {
        "templates": templates, "may_edit": permits(template_services.template_create_check, by=request.user),
    })


def _template_page(request, template=None):
    if template is None:
        ask(template_services.template_create_check, by=request.user)
    else:
        ask(template_services.template_update_check, template=template, by=request.user)
    post = request.POST if request.method == "POST" else None
    form = ReleaseTemplateForm(post, instance=template)
    tasks = TaskFormSet(post, prefix="tasks", initial=[TemplateTaskForm.initial_for(t) for t in template.tasks.all()]
                        if template else None)
    tests = TestCaseFormSet(post, prefix="tests", initial=[TemplateTestCaseForm.initial_for(c)
                                                           for c in template.test_cases.all()] if template else None)
    status = 200
    if post is not None:
        status = 400
        if form.is_valid() and tasks.is_valid() and tests.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
            try:
                if template is None:
                    template = template_services.template_create(
                        by=request.user, tasks=formset_rows(tasks), test_cases=formset_rows(tests), **fields)
                else:
                    template_services.template_update(template_id=template.pk, by=request.user,
                                                      tasks=formset_rows(tasks), test_cases=formset_rows(tests),
                                                      **fields)
            except (TransitionError, ValidationError) as exc:
                status = apply_errors(form, exc)
            else:
                messages.success(request, f"Template “{template.name}” saved.")
                return redirect("releases:templates")
    return render(request, "releases/template_form.html", {
        "form": form, "tasks": tasks, "tests": tests, "template": template,
        # The rows with errors join the form's in the error summary.
        "formsets_with_errors": [fs for fs in (tasks, tests) if fs.is_bound and not fs.is_valid()],
        "title": f"Edit template “{template.name}”" if template else "New release template",
    }, status=status)


@reader_required
def template_create_view(request):
    return _template_page(request)


@reader_required
def template_edit_view(request, pk):
    return _template_page(request, get_object_or_404(ReleaseTemplate.objects.restrict(request.user), pk=pk))

"""Checks made as the user types: a form's dates against the release window,
a typed CI against the CMDB. The fields carry htmx attributes
(``with_live_checks``) that ask ``live_check_view`` for a fragment of
warnings, drawn in the form's slot (``includes/form_fields.html``) without a
page load. Nothing is saved or refused here: saving a form still runs the
service's own rules; these only say early what scheduling or the scope form
would later refuse."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from cmdb.services import may_register_cis
from releasemgmt.ui import reader_required

from ..forms import ScopeForm
from ..models import Release

# The fields checked as the user types, by name (without the form's prefix).
WINDOWED = ("planned_start", "planned_end", "deployment_start", "deployment_end")
LIVE_CHECKED = (*WINDOWED, "ci")
# Wait this long after the last key before asking: one request per pause, not per key.
TRIGGER = "input changed delay:400ms"


def with_live_checks(form, release):
    """Have ``form``'s checked fields ask for warnings as the user types; its
    slot's id becomes ``form.live_checks``. Returns the form."""
    if form is None or release is None or not any(name in form.fields for name in LIVE_CHECKED):
        return form
    slot = f"{form.prefix or 'form'}-checks"
    url = reverse("releases:live_check", args=[release.pk])
    for name in LIVE_CHECKED:
        if name in form.fields:
            form.fields[name].widget.attrs.update({
                "hx-get": url, "hx-trigger": TRIGGER, "hx-target": f"#{slot}", "hx-swap": "innerHTML",
                # The whole form (both ends of a window), without its CSRF token: a GET's query is logged.
                "hx-include": "closest form", "hx-params": "not csrfmiddlewaretoken", "hx-sync": "this:replace",
            })
    form.live_checks = slot
    return form


def _typed(query) -> dict[str, str]:
    """The checked fields of the query, by name without the form's prefix."""
    out = {}
    for key, value in query.items():
        name = key.rsplit("-", 1)[-1]
        if name in LIVE_CHECKED and value.strip():
            out[name] = value.strip()[:200]
    return out


def _moment(value):
    try:
        return forms.DateTimeField().clean(value)
    except ValidationError:
        return None  # the form says so when it is saved


def label_of(what) -> str:
    return "The deployment window" if what == "deployment window" else "The task"


def window_warnings(release, typed) -> list[dict]:
    """The typed dates that fall outside the release's planned window (a
    task's or the deployment window's), or end before they start."""
    moments = {name: _moment(typed[name]) for name in WINDOWED if name in typed}
    opens, closes = release.planned_start, release.planned_end
    out = []
    for what, start, end in (("task", "planned_start", "planned_end"),
                             ("deployment window", "deployment_start", "deployment_end")):
        first, last = moments.get(start), moments.get(end)
        if first and last and last <= first:
            out.append({"code": "end_before_start", "text": f"{label_of(what)} does not end after it starts."})
        if not (opens and closes):
            continue
        # What refuses it later: scheduling (guards.tasks_assigned), submitting the plan (guards.plan_complete).
        later = ("the plan cannot be submitted to the CAB" if what == "deployment window"
                 else "the release cannot be scheduled")
        for moment, edge in ((first, "starts"), (last, "ends")):
            if moment and not opens <= moment <= closes:
                out.append({"code": "outside_window", "moment": moment, "edge": edge, "label": label_of(what),
                            "later": later})
    return out


def unknown_ci(release, user, typed):
    """A typed CI the scope form would refuse, and the way to register it for
    those who may (back to the scope after), as ``cmdb/unknown_ci.html`` shows it."""
    name = typed.get("ci")
    if not name:
        return None
    try:
        ScopeForm().fields["ci"].clean(name)
    except ValidationError:
        pass
    else:
        return None
    add_url = ""
    if may_register_cis(user):
        back = reverse("releases:detail", args=[release.pk]) + "#scope"
        add_url = reverse("cmdb:ci_add") + "?" + urlencode({"name": name, "next": back})
    return {"name": name, "add_url": add_url}


@require_GET
@reader_required
def live_check_view(request, pk):
    release = Release.objects.restrict(request.user).only("id", "state", "planned_start", "planned_end").filter(
        pk=pk).first()
    if release is None:
        raise Http404("No such release.")
    typed = _typed(request.GET)
    response = render(request, "releases/live_checks.html", {
        "release": release, "warnings": window_warnings(release, typed),
        "unknown": unknown_ci(release, request.user, typed)})
    # Nothing to say leaves the slot empty (its :empty rule hides it).
    response.content = response.content.strip()
    return response

"""Forms in place on the release page (htmx, drawn by the server): what a
saved form answers, and the step a save may take with it.

Without JavaScript every form is a plain POST answered by a redirect to
the page (Post/Redirect/Get). Sent by htmx (``request.htmx``), a saved
record is answered with the page's body drawn again (the records, the
next steps and their blockers, the ticket, the tasks), swapped in place
without a reload; a form sent back with its errors is that body too, the
form filled in and its errors beside the fields. A save that also took a
step answers with a redirect the browser follows as a whole page, since
the step changes the tracker and the header as well."""
from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRefresh

from releasemgmt.workflow import name_of

from ..models import Release
from ..selectors import BLOCKER_TARGETS

CANCEL = name_of(Release.cancel)
# What a save answers htmx with: the page's body, swapped in place.
BODY = "#release-body"


def save_offers(transitions, fits, *, same_step=None) -> list[dict]:
    """The steps a save may take in the same action: forward steps this user
    may take now, asking no reason and no signature, whose every remaining
    blocker ``fits`` (is met by what is being saved). A step already free
    of blockers is offered only with a record of its own step
    (``same_step``), so a test case is not offered to start packaging."""
    out = []
    for t in transitions:
        if t["forbidden"] or t["signed"] or t["reason_required"] or t["setback"] or t["name"] == CANCEL:
            continue
        if not all(fits(b["code"]) for b in t["blockers"]):
            continue
        if not t["blockers"] and (same_step is None or same_step != t.get("step")):
            continue
        label = t["label"]
        out.append({"name": t["name"], "label": f"Save and {label[:1].lower()}{label[1:]}"})
    return out


def record_offers(transitions, record_type, step) -> list[dict]:
    target = f"#rec-{record_type}"
    return save_offers(transitions, lambda code: BLOCKER_TARGETS.get(code) == target, same_step=step)


def needed_now(transitions) -> set[str]:
    """The kinds of step record a blocker of the next steps names."""
    out = set()
    for t in transitions:
        for b in t["blockers"]:
            target = BLOCKER_TARGETS.get(b["code"], "")
            if target.startswith("#rec-"):
                out.add(target[len("#rec-"):])
    return out


def chosen_step(request) -> str:
    """The step the person asked to take with the save (its button's value), or ''."""
    return str(request.POST.get("then", "")).strip()[:64]


def saved(request, pk, anchor: str, *, moved: bool, render_body):
    """The answer to a form that was saved (Post/Redirect/Get): the page
    (at ``anchor``), or for htmx its body drawn again in place; a step
    taken with the save reloads the whole page."""
    url = reverse("releases:detail", args=[pk])
    if moved:
        # htmx's forms are sent from the release page itself, whose address
        # is this one: reloaded, it is drawn whole (a redirect to the same
        # address with another #fragment would only scroll).
        return HttpResponseClientRefresh() if request.htmx else redirect(url + "#next-steps")
    if request.htmx:
        return render_body(request, pk)
    return redirect(url + anchor)

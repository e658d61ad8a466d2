"""``{% evidence_panel record "test_results" %}``: a record's evidence files
and the form to attach one (``evidence.panel``); nothing for a kind of
record that takes none."""
from django import template

from .. import panel

register = template.Library()


@register.inclusion_tag("evidence/panel.html", takes_context=True)
def evidence_panel(context, record, record_type):
    kind = panel.kind_named(record_type)
    request = context.get("request")
    if kind is None or request is None:
        return {"kind": None}
    owner = context.get(kind.owner)  # the page's release, RFC or problem
    if getattr(owner, "pk", None) != (record.release_id if kind.owner == "release" else record.pk):
        owner = None
    return {**panel.context(request, kind, record, owner=owner), "csrf_token": context.get("csrf_token")}

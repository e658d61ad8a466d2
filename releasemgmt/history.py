"""The performed steps of an object (a release, an RFC, a task, a problem
record), as ``workflow.run_transition`` logs them, for every app's pages.

The log and the signatures are rows of the process's own tables, which live
with the release process's models (a model stays in its app); the ground
looks them up by name, as ``workflow.run_transition`` does to write the log,
rather than importing the app that holds them."""
from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType

from .workflow import specs, state_field

LOG_MODEL = ("releases", "TransitionLog")
SIGNATURE_MODEL = ("releases", "Signature")


def log_model():
    return apps.get_model(*LOG_MODEL)


def logs_of(obj):
    """The log rows of ``obj``'s transitions (a query, not yet run)."""
    return log_model().objects.filter(content_type=ContentType.objects.get_for_model(type(obj)), object_id=obj.pk)


def transition_logs(obj):
    """The performed steps of one object, oldest first, each with readable
    names for the transition and the states, and the signature of each
    signed step (one query when there are any)."""
    model = type(obj)
    logs = list(logs_of(obj).select_related("by").order_by("at", "id"))
    declared = specs(model)
    names = {name: spec.title for name, spec in declared.items()}
    states = dict(model._meta.get_field(state_field(model)).choices)
    for log in logs:
        log.label = names.get(log.name, log.name)
        log.source_label = states.get(log.source, log.source)
        log.target_label = states.get(log.target, log.target)
    signed = [log for log in logs if log.name in declared and declared[log.name].signed is not None]
    apps.get_model(*SIGNATURE_MODEL).attach(signed)
    return logs

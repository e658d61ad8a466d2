"""The event types an integration may subscribe to, and what each delivers.

Each type is read off an event the process announces
(``releasemgmt.events``): a release's transition (any, or those reaching
deployed, rolled back or closed), an RFC authorised, a task assigned, the
deployment gate's answer. The body follows the Standard Webhooks shape:
``{"type", "timestamp", "data"}``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

from django.conf import settings
from django.urls import reverse

from changes.models import ChangeRequest
from pipelines.gate import GATE_DECIDED
from releasemgmt.events import Event
from releasemgmt.workflow import name_of
from releases.choices import ReleaseState
from releases.models import Release, Task
from releases.services import TASK_ASSIGNED


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    matches: Callable[[Event], bool]


def _release_transition(event: Event) -> bool:
    return isinstance(event.obj, Release) and event.is_transition


def _release_reached(state: str) -> Callable[[Event], bool]:
    return lambda event: _release_transition(event) and event.target == state


EVENT_TYPES = {t.name: t for t in (
    EventType("release.transitioned", "A release took any step of the process.", _release_transition),
    EventType("release.deployed", "A release's deployment completed.", _release_reached(ReleaseState.DEPLOYED)),
    EventType("release.rolled_back", "A release was rolled back.", _release_reached(ReleaseState.ROLLED_BACK)),
    EventType("release.closed", "A release was closed.", _release_reached(ReleaseState.CLOSED)),
    EventType("rfc.authorized", "An RFC was authorised by change management.",
              lambda e: isinstance(e.obj, ChangeRequest) and e.is_transition
              and e.name == name_of(ChangeRequest.authorize)),
    EventType("task.assigned", "A release task was assigned (or reassigned) to a person, team or vendor.",
              lambda e: isinstance(e.obj, Task) and e.name == TASK_ASSIGNED),
    EventType("gate.decision", "The deployment gate answered a pipeline about a release.",
              lambda e: isinstance(e.obj, Release) and e.name == GATE_DECIDED),
)}

# The models whose events are listened to (``releasemgmt.events.listen``).
MODELS = ("releases.Release", "changes.ChangeRequest", "releases.Task")


def types_of(event: Event) -> list[str]:
    return [t.name for t in EVENT_TYPES.values() if t.matches(event)]


def _link(name: str, pk: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[pk])


def _release(release: Release) -> dict:
    return {"id": release.pk, "number": release.number, "title": release.title, "state": release.state,
            "url": _link("releases:detail", release.pk)}


def _user(user) -> str | None:
    return getattr(user, "username", None) or None


def data_of(event: Event) -> dict:
    """What a delivery of ``event`` says (the body's ``data``)."""
    obj = event.obj
    if isinstance(obj, Release) and event.name == GATE_DECIDED:
        answer = event.payload
        return {"release": _release(obj), "decision": answer["decision"], "environment": answer["environment"],
                "blockers": answer["blockers"], "asked_by": _user(event.by)}
    if isinstance(obj, Task):
        return {"task": {"id": obj.pk, "title": obj.title, "step": obj.step, "state": obj.state,
                         "assignee": obj.assignee_label}, "release": _release(obj.release), "by": _user(event.by)}
    if isinstance(obj, ChangeRequest):
        subject = {"id": obj.pk, "number": obj.number, "title": obj.title, "state": obj.state,
                   "url": _link("changes:detail", obj.pk)}
        return {"rfc": subject, "transition": _transition(event)}
    return {"release": _release(obj), "transition": _transition(event)}


def _transition(event: Event) -> dict:
    log = event.log
    return {"name": event.name, "source": event.source, "target": event.target, "by": _user(event.by),
            "at": log.at.isoformat() if log is not None else None,
            "reason": log.reason if log is not None else ""}


def occurrence_of(event: Event) -> str:
    """What makes two announcements the same occurrence: a transition's log
    row; for a gate decision, the answer itself (decision, blockers, state),
    so a pipeline polling an unchanged answer tells subscribers once."""
    if event.log is not None:
        return f"log{event.log.pk}"
    if isinstance(event.obj, Task):  # announced only when the assignee changes: each is news
        return f"task{event.obj.pk}:{uuid.uuid4().hex}"
    answer = event.payload
    codes = ",".join(b["code"] for b in answer["blockers"])
    return f"gate{event.obj.pk}:{answer['environment']}:{event.obj.state}:{answer['decision']}:{codes}"

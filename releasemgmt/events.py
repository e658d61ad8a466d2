"""What the process announces, and who listens: an explicit registry.

The process core (the services and ``workflow.run_transition``) announces
each transition performed, and a few events of its own (a rescheduled
window), by calling ``announce`` inside the transition's transaction. The
concerns built on the core (notifications and their outbox, reports' stays,
...) register a listener in their ``AppConfig.ready``; the core never imports
them. Unlike Django signals, a listener is called synchronously, in
registration order, inside the caller's transaction, and an exception in it
rolls the whole change back: an outbox row commits with the change it tells
of, or neither does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Event:
    """One thing that happened to ``obj``: a transition (``name`` is the
    transition's, ``log`` its log row, ``source``/``target`` its states) or
    another event of the process (``log`` is then None)."""

    obj: Any
    name: str
    by: Any = None
    payload: dict = field(default_factory=dict)
    log: Any = None
    source: str | None = None
    target: str | None = None
    at: Any = None
    # Event-specific details (e.g. ``occurrence``, ``subject_obj`` of a reschedule).
    extra: dict = field(default_factory=dict)

    @property
    def is_transition(self) -> bool:
        return self.log is not None


Listener = Callable[[Event], None]

_LISTENERS: list[tuple[str | None, Listener]] = []


def listen(listener: Listener, *, model: str | None = None) -> Listener:
    """Call ``listener`` for every event announced about a ``model``
    (``"app_label.ModelName"``), or about any object when ``model`` is None.
    Registering the same listener twice has no further effect."""
    key = model.lower() if model else None
    if (key, listener) not in _LISTENERS:
        _LISTENERS.append((key, listener))
    return listener


def announce(obj, name: str, **details) -> Event:
    """Tell every listener of ``obj``'s model that ``name`` happened to it."""
    known = {"by", "payload", "log", "source", "target", "at"}
    event = Event(obj=obj, name=name, **{k: v for k, v in details.items() if k in known},
                  extra={k: v for k, v in details.items() if k not in known})
    label = obj._meta.label_lower
    for model, listener in list(_LISTENERS):
        if model is None or model == label:
            listener(event)
    return event

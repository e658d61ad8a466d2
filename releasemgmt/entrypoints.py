"""Which door an action came through: the REST API, the browser UI, Django
admin, a calendar feed, a management command or the Celery worker.

Refused attempts and signatures name it, so an auditor can tell a refusal met
by an integration from one met in the browser. It is set once per request by
``EntryPointMiddleware`` (from the path), by ``manage.py`` for commands and by
the worker for its tasks; code that runs outside all of them (a shell, a
test calling a service) reads ``shell``.

Imported before the apps are loaded (by the settings' middleware list):
nothing here touches a model.
"""
from __future__ import annotations

import contextlib
import contextvars

API, UI, ADMIN, FEED, COMMAND, WORKER, SHELL = "api", "ui", "admin", "feed", "command", "worker", "shell"
ENTRY_POINTS = (API, UI, ADMIN, FEED, COMMAND, WORKER, SHELL)
CHOICES = [(name, name) for name in ENTRY_POINTS]

_current: contextvars.ContextVar[str] = contextvars.ContextVar("entry_point", default=SHELL)
_default = SHELL


def current() -> str:
    """The entry point of the action running now."""
    value = _current.get()
    return _default if value == SHELL else value


def set_default(name: str) -> None:
    """The entry point of a whole process (``manage.py``: ``command``;
    a Celery worker: ``worker``) where no request sets one."""
    global _default
    assert name in ENTRY_POINTS, name
    _default = name


@contextlib.contextmanager
def entered(name: str):
    """Run a block as coming through ``name``."""
    assert name in ENTRY_POINTS, name
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


def from_path(path: str) -> str:
    """The entry point a request path belongs to."""
    if path.startswith("/api/"):
        return API
    if path.startswith("/admin/"):
        return ADMIN
    if path.endswith(".ics"):
        return FEED
    return UI


class EntryPointMiddleware:
    """Sets the entry point of each request from its path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with entered(from_path(request.path_info)):
            return self.get_response(request)

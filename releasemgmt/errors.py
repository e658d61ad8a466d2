"""What a refused step says: its blockers, and the errors every entry point
translates (the API's 403/404/409 body, the UI's message, the admin's).

Kept apart from the state machinery (``workflow``) so that the modules it
builds on (signing, the authorization policy) can raise and read them
without importing it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    # The row the message names (a task by its title, another release), as
    # (model label, pk), and the words for a user who may not see that row
    # (another vendor's task): ``authz.redact`` picks one per reader.
    about: tuple[str, int] | None = field(default=None, compare=False)
    unseen: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class TransitionError(Exception):
    status = 409
    code = "transition_error"

    def __init__(self, name: str, detail: str, blockers: list[Blocker] | None = None, code: str | None = None):
        super().__init__(detail)
        self.name = name
        self.detail = detail
        self.blockers = list(blockers or [])
        if code:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, "blockers": [b.as_dict() for b in self.blockers]}


class TransitionNotFound(TransitionError):
    status = 404
    code = "unknown_transition"


class TransitionForbidden(TransitionError):
    status = 403
    code = "forbidden"


class TransitionBlocked(TransitionError):
    status = 409
    code = "blocked"

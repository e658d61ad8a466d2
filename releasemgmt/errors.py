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


# The blocker codes that decide an error's meaning (``refused``, below).
SOD = "segregation_of_duties"
REASON_REQUIRED = "reason_required"


class TransitionError(Exception):
    """A refused step or write. Each meaning has one class, one HTTP status
    and one ``code`` (the table in docs/api.md); ``blockers`` say why in
    detail, each with its own code."""

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
    """No transition of that name: 404."""

    status = 404
    code = "unknown_transition"


class TransitionForbidden(TransitionError):
    """The acting user's roles may not do this: 403, kept as a refused attempt."""

    status = 403
    code = "forbidden"


class SegregationOfDuties(TransitionForbidden):
    """The user holds the role but may not decide on this object: their own
    release, or an RFC they proposed. A refusal of authority like a missing
    role, so the same status (403) whatever is decided (a vote, approve_plan,
    Go/No-Go, an RFC's assessment): waiting or retrying changes nothing, and
    it is kept as a refused attempt (``releasemgmt.refusals``)."""

    code = SOD


class TransitionBlocked(TransitionError):
    """A condition of the step is unmet (a guard's blockers): 409."""

    status = 409
    code = "blocked"


class InvalidState(TransitionBlocked):
    """The object's state forbids the step: a transition from another state,
    a step record before or after its step, a field fixed at this step, a
    finished object edited. 409; the blockers say which (``invalid_state``,
    ``step_closed``, ``not_rolled_back``)."""

    code = "invalid_state"


class Duplicate(TransitionBlocked):
    """The thing exists already and there may be only one: a second vote by
    the same member on a plan version (``already_voted``), a second
    pre-release baseline (``baseline_exists``), a second problem record
    (``problem_exists``). 409."""

    code = "duplicate"


class ReasonRequired(TransitionBlocked):
    """The step needs a reason and the request gave none: the request is
    incomplete (400, like a missing signature), whatever the state; the body
    names the ``reason`` field as a field error would."""

    status = 400
    code = REASON_REQUIRED

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "reason": [self.detail]}


class MethodRefused(TransitionError):
    """A write this kind of record never takes (405): it is ``immutable``
    (evidence, kept as written: a change is a new record) or ``read_only``
    (written by its step's transition, not by hand)."""

    status = 405
    code = "immutable"


def refused(name: str, blockers: list[Blocker]) -> TransitionError:
    """The error for a step its guards refuse, by what the blockers mean:
    segregation of duties (403) before anything else, then any other unmet
    condition (409 ``blocked``), and only then a missing reason (400), so
    that a reason is asked for only when it is all that is missing."""
    sod = [b for b in blockers if b.code == SOD]
    if sod:
        return SegregationOfDuties(name, sod[0].message, sod)
    conditions = [b for b in blockers if b.code != REASON_REQUIRED]
    if conditions:
        detail = conditions[0].message if len(conditions) == 1 else f"{len(conditions)} conditions block '{name}'."
        return TransitionBlocked(name, detail, conditions)
    return ReasonRequired(name, blockers[0].message, blockers)

"""Who sees and does what: a user's roles, teams and vendors, read once a page."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.db.models import Q

from releasemgmt.workflow import evaluate, specs, user_roles

from ..choices import TaskState
from ..models import Task

ENDED = ("closed", "cancelled")
ACTIVE_TASK_STATES = (TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.BLOCKED)

# Every row a page shows is read through its model's ``restrict(user)``
# (releasemgmt.authz decides); the pages themselves are gated by
# ``releasemgmt.ui.reader_required`` and ``role_required``.


@dataclass
class Membership:
    """A user's roles, and the teams and vendors they belong to (one query
    each, asked at most once a page, and only when something needs them: a
    release manager acts on every task whatever their teams)."""

    user: object
    roles: frozenset

    @classmethod
    def of(cls, user) -> "Membership":
        return cls(user, user_roles(user) if user.is_authenticated else frozenset())

    @cached_property
    def team_ids(self) -> set:
        return set(self.user.teams.values_list("pk", flat=True)) if self.user.is_authenticated else set()

    @cached_property
    def vendor_ids(self) -> set:
        return set(self.user.vendors.values_list("pk", flat=True)) if self.user.is_authenticated else set()

    def assigned(self, task) -> bool:
        return (task.assignee_user_id == self.user.pk
                or (task.assignee_team_id is not None and task.assignee_team_id in self.team_ids)
                or (task.assignee_vendor_id is not None and task.assignee_vendor_id in self.vendor_ids))

    def task_actor(self, task) -> bool:
        """``releases.models.task.task_actor`` without a query per task."""
        if not self.roles:
            return False
        return "release_manager" in self.roles or self.assigned(task)

    def mine_q(self, prefix="") -> Q:
        return (Q(**{f"{prefix}assignee_user": self.user.pk}) | Q(**{f"{prefix}assignee_team__in": self.team_ids})
                | Q(**{f"{prefix}assignee_vendor__in": self.vendor_ids}))


def task_actions(task, member: Membership) -> list[dict]:
    """The transitions of a task this user may take now (with blockers), as
    ``workflow.available`` reports them, but without a membership query per
    task. The service checks everything again when the button is pressed."""
    rows = []
    for spec in specs(Task).values():
        if task.state not in spec.sources or spec.internal:
            continue
        if not member.roles & set(spec.roles_for(task)):
            continue
        if spec.actor is not None and not member.task_actor(task):
            continue
        blockers = evaluate(task, spec, member.user, {"reason": "given"} if spec.reason else {})
        rows.append({"name": spec.name, "label": spec.title, "allowed": not blockers,
                     "reason_required": spec.reason, "blockers": [b.as_dict() for b in blockers]})
    # Plain buttons first; the ones that ask for a reason (block, cancel) after them.
    return sorted(rows, key=lambda r: r["reason_required"])

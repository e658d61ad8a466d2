"""Where a blocker's "fix →" link leads on the release page: the very row it
is about when the guard named one, else the section or page that holds
what is missing."""
from __future__ import annotations

from django.urls import reverse

from ..models import RECORD_TYPES
from ..selectors import BLOCKER_TARGETS

# The anchor of a row a blocker is about, by its model: the task's row, the
# record's article, the RFC's or scope item's line (templates/releases/release_body.html).
ROW_ANCHORS = {"releases.Task": "task-{pk}", "changes.ChangeRequest": "rfc-{pk}",
               "releases.ReleaseScopeItem": "scope-{pk}",
               **{model._meta.label: f"rec-{record_type}-{{pk}}" for record_type, model in RECORD_TYPES.items()}}


def blocker_href(release, code, about=None):
    """Where "fix →" goes: the very row the blocker is about (a task, a record),
    else the section that holds what is missing."""
    if about and about[0] in ROW_ANCHORS:
        return "#" + ROW_ANCHORS[about[0]].format(pk=about[1])
    if code in ("quorum_not_reached", "open_reject_vote"):
        return reverse("releases:cab_review", args=[release.pk])
    if code == "acceptance_criteria_missing":
        return reverse("releases:edit", args=[release.pk])
    return BLOCKER_TARGETS.get(code, "")

"""What the release process tells the apps it stands on (change management,
the CMDB) about releases: they never import ``releases``, so the release
process hands them its use cases and listens to what they announce.

``connect()`` is called once, from ``ReleasesConfig.ready``.
"""
from __future__ import annotations

from changes.services import PROBLEM_OPENED
from cmdb.services import capture_release_baselines_with
from releasemgmt import events

from . import services
from .models import ProblemReference


def on_problem_opened(event) -> None:
    """A problem record opened for a rolled-back release: while the rollback
    step is open the release gets a problem reference record, so its page and
    the API show where the analysis lives (in the problem's transaction)."""
    if event.name != PROBLEM_OPENED:
        return
    release, problem = event.extra["release"], event.obj
    if release.state in ProblemReference.open_states:
        services.record_add(release_id=release.pk, record_type="problem_references", by=event.by,
                            reference=problem.number, description=problem.title)


def connect() -> None:
    events.listen(on_problem_opened, model="changes.Problem")
    capture_release_baselines_with(services.release_capture_baseline)

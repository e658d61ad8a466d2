"""The demo's past: releases walked through the process over the last months,
each step taking a share of its declared target duration
(``Release.step_targets``), a few overrunning it.

The releases still go through the release services only (``Walker``); only
the clock they read is set (``DemoClock``), so every record, history row,
transition log entry and stay carries the time the step would have been
taken, and the reports, the calendar and the dashboards show a history.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from django.utils import timezone

from .models import target_duration
from .scenario import Walker

# The states a release passes on its way to closure, in order.
MAIN_PATH = ("new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building", "built",
             "testing", "tests_passed", "plans_updated", "ready", "go", "backed_up", "deploying", "deployed",
             "verified", "evaluated", "in_review", "succeeded", "closed")
# The states before the deployment starts (the stays that lead to it).
BEFORE_DEPLOYMENT = MAIN_PATH[:MAIN_PATH.index("deploying")]
# A state without a declared target (a release's first, ``new``) lasts about this long.
UNTIMED = timedelta(days=1)


class DemoClock:
    """What ``django.utils.timezone.now`` answers while the demo's history
    is written: a moment set by the seeding, the real time when none is set."""

    def __init__(self):
        self._real = timezone.now
        self.at = None

    def now(self):
        return self.at or self._real()

    def real(self):
        return self._real()

    def advance(self, by: timedelta) -> None:
        self.at = (self.at or self._real()) + by

    @contextmanager
    def running(self):
        with mock.patch.object(timezone, "now", self.now):
            try:
                yield self
            finally:
                self.at = None


class Pace:
    """How long one release stays in each state: a share of the state's
    target for the release's type, the same at every run (seeded by the
    title). A late release overruns its target in ``late`` states."""

    def __init__(self, title: str, release_type: str, late=()):
        self.title, self.release_type, self.late = title, release_type, set(late)

    def stay(self, state: str) -> timedelta:
        rng = random.Random(f"{self.title}:{state}")
        share = rng.uniform(1.3, 2.4) if state in self.late else rng.uniform(0.3, 0.95)
        target = target_duration(self.release_type, state) or UNTIMED
        # Whole minutes: the pages show minutes, and the figures stay readable.
        return timedelta(minutes=round(target / timedelta(minutes=1) * share))

    def total(self, states) -> timedelta:
        return sum((self.stay(s) for s in states), timedelta())


class TimedWalker(Walker):
    """A ``Walker`` whose release stays in each state as long as its pace
    says before taking the next step (the records of a step are written when
    the release enters it)."""

    def __init__(self, release, actors, clock: DemoClock, pace: Pace):
        super().__init__(release, actors)
        self.clock, self.pace = clock, pace

    def go(self, name, by, **payload):
        self.clock.advance(self.pace.stay(self.release.state))
        return super().go(name, by, **payload)


def path_to(target: str, *, rollback_from: str | None = None, cancel_from: str | None = None) -> tuple[str, ...]:
    """The states a release leaves on its way to ``target`` (walked as
    ``Walker.to`` walks it)."""
    if cancel_from:
        return MAIN_PATH[:MAIN_PATH.index(cancel_from) + 1]
    if rollback_from:
        path = MAIN_PATH[:MAIN_PATH.index(rollback_from) + 1] + ("rolling_back",)
        return path + (("rolled_back",) if target == "closed" else ())
    return MAIN_PATH[:MAIN_PATH.index(target)]

"""Property: whatever users try, in whatever order, a release only ever moves
along the contract's graph, never skips a step, and every successful
transition leaves exactly one history row and one log row."""
import itertools

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from cmdb.models import ConfigurationItem
from releasemgmt.workflow import ROLES, TransitionError, specs
from releases.choices import STATE_ORDER
from releases.models import Release, TransitionLog
from releases.scenario import Actors, Walker, new_release
from tests.helpers import create_user
from tests.signatures import PASSWORD, signed

SPECS = specs(Release)
EDGES = {(src, name, spec.target) for name, spec in SPECS.items() for src in spec.sources}
NAMES = sorted(SPECS)
_seq = itertools.count()

# The transitions that must have happened before a release can stand in a
# state of the main line (the steps before it).
MAIN_LINE = ["start_planning", "submit_plan", "approve_plan", "schedule", "start_packaging", "start_build",
             "complete_build", "start_testing", "pass_tests", "update_plans", "prepare", "approve_go",
             "record_backup", "start_deployment", "complete_deployment", "verify_deployment", "evaluate",
             "start_review", "accept"]


def _user(role):
    return create_user(f"{role}-{next(_seq)}", role)


class ReleaseProcess(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_seq)
        self.actors = Actors(
            release_manager=_user("release_manager"), change_manager=_user("change_manager"),
            cab_members=[_user("cab_member"), _user("cab_member")], delivery_manager=_user("delivery_manager"),
            build_team=_user("build_team"), test_team=_user("test_team"), deployment_team=_user("deployment_team"),
            configuration_manager=_user("configuration_manager"), requester=_user("stakeholder"),
            password=PASSWORD,
        )
        self.users = {role: _user(role) for role in ROLES}
        self.users.update({"the_release_manager": self.actors.release_manager,
                           "the_change_manager": self.actors.change_manager,
                           "the_cab_member": self.actors.cab_members[0],
                           "the_delivery_manager": self.actors.delivery_manager})
        ci = ConfigurationItem.objects.create(name=f"ci-{n}", version="1.0")
        self.release = new_release(self.actors, title=f"Release {n}", cis=[ci])
        self.walker = Walker(self.release, self.actors)
        self.successes = 0

    def _state(self):
        return Release.objects.get(pk=self.release.pk).state

    @rule(name=st.sampled_from(NAMES), who=st.sampled_from(sorted(ROLES) + ["the_release_manager",
                                                                         "the_change_manager",
                                                                         "the_cab_member",
                                                                         "the_delivery_manager"]),
          reason=st.sampled_from(["", "Because."]))
    def attempt(self, name, who, reason):
        from releases.services import release_transition

        before = self._state()
        try:
            release_transition(release_id=self.release.pk, name=name, by=self.users[who],
                               **signed(Release, name, {"reason": reason}))
        except TransitionError:
            assert self._state() == before
        else:
            self.successes += 1

    @rule()
    def advance(self):
        """Do whatever the current step needs, as the right people would."""
        state = self._state()
        if state in ("closed", "cancelled"):
            return
        self.walker.release = Release.objects.get(pk=self.release.pk)
        before = TransitionLog.objects.filter(object_id=self.release.pk, content_type__model="release").count()
        getattr(self.walker, "go_" if state == "go" else state)()
        after = TransitionLog.objects.filter(object_id=self.release.pk, content_type__model="release").count()
        self.successes += after - before

    @rule()
    def roll_back(self):
        state = self._state()
        if state in ("deploying", "deployed", "verified", "evaluated", "in_review"):
            self.walker.release = Release.objects.get(pk=self.release.pk)
            self.walker.start_rollback()
            self.successes += 1

    @invariant()
    def moves_only_along_the_contract(self):
        logs = list(TransitionLog.objects.filter(object_id=self.release.pk, content_type__model="release")
                    .order_by("at", "id").values_list("source", "name", "target"))
        state = "new"
        for source, name, target in logs:
            assert source == state, (source, state)
            assert (source, name, target) in EDGES
            state = target
        assert state == self._state()
        assert len(logs) == self.successes
        # Exactly one history row per successful transition.
        reasons = list(Release.history.filter(id=self.release.pk).exclude(history_change_reason__in=["create", "update"])
                       .values_list("history_change_reason", flat=True))
        assert len(reasons) == len(logs)
        # No state of the main line without every earlier step behind it.
        if state in STATE_ORDER and state != "closed":
            needed = MAIN_LINE[: STATE_ORDER.index(state)]
            done = {name for _, name, _ in logs}
            assert set(needed) <= done, set(needed) - done


@pytest.mark.django_db
def test_no_sequence_of_calls_skips_a_step():
    run_state_machine_as_test(
        ReleaseProcess,
        settings=settings(max_examples=12, stateful_step_count=45, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )

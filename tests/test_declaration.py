"""Each release step is declared once, on its transition: what the rest of
the code reads (target durations, the payload a step takes, its effects,
the records it asks for) comes from there."""
from datetime import timedelta

from releasemgmt.workflow import name_of, sources_of, specs
from releases.choices import ReleaseState, ReleaseType
from releases.models import Backup, ClosureComment, HealthCheck, Release, RollbackAdvice, target_duration


def test_every_state_a_release_waits_in_has_one_declared_target_per_type():
    from releases.choices import STEP_TARGETS  # still importable, read from the declaration

    assert STEP_TARGETS is Release.step_targets()
    assert list(STEP_TARGETS) == list(ReleaseType.values)
    waiting = [s for s in ReleaseState.values if s not in ("new", "closed", "cancelled")]
    for kind, targets in STEP_TARGETS.items():
        assert list(targets) == waiting, kind
    assert target_duration(ReleaseType.EMERGENCY, ReleaseState.DEPLOYING) == timedelta(hours=4)
    assert target_duration("major", "planning") == timedelta(days=10)
    assert target_duration("minor", "closed") is None
    declaring = {spec.target: spec.name for spec in specs(Release).values() if spec.durations}
    assert declaring["planning"] == name_of(Release.start_planning)  # not reject_plan, which also leads there


def test_the_freeze_override_is_a_field_of_the_steps_that_take_it():
    takes_override = {name for name, spec in specs(Release).items() if "freeze_override_reason" in spec.fields}
    assert takes_override == {name_of(Release.schedule), name_of(Release.start_deployment)}


def test_steps_that_change_related_objects_declare_it():
    with_effects = {name for name, spec in specs(Release).items() if spec.effects}
    assert with_effects == {name_of(m) for m in (
        Release.start_planning, Release.schedule, Release.approve_go, Release.no_go, Release.start_deployment,
        Release.complete_deployment, Release.accept, Release.complete_rollback, Release.close, Release.cancel)}


def test_a_steps_evidence_is_written_while_the_step_can_be_taken():
    assert Backup.open_states == sources_of(Release.record_backup) == ("go",)
    assert HealthCheck.open_states == ("deployed",)
    assert set(RollbackAdvice.open_states) == {"deploying", "deployed", "verified", "evaluated", "in_review"}
    assert ClosureComment.open_states == ("succeeded", "rolled_back")

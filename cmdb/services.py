"""CMDB use cases: the only code that writes CIs and baselines."""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction

from releasemgmt import signing
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionForbidden, has_any_role, name_of, run_transition

from .choices import BaselineKind
from .models import Baseline, BaselineItem, ConfigurationItem

CMDB_WRITERS = ("configuration_manager", "release_manager")
CI_WRITERS = ("configuration_manager",)
CAPTURE = name_of(Baseline.capture)


# A release's pre-release baseline is the release process's use case (it
# reads the release's state and scope, and is refused in other steps): the
# release app registers it here in its AppConfig.ready, since the CMDB does
# not import the release process. The CMDB admin captures through it.
_RELEASE_CAPTURE = []


def capture_release_baselines_with(use_case) -> None:
    """Register ``use_case(release_id=, by=)``, which captures a release's
    pre-release baseline and returns it."""
    _RELEASE_CAPTURE[:] = [use_case]


def release_baseline_capture(*, release_id, by) -> Baseline:
    """Capture the pre-release baseline of a release, through the release
    process's use case."""
    if not _RELEASE_CAPTURE:
        raise ImproperlyConfigured("No app captures pre-release baselines (see capture_release_baselines_with).")
    return _RELEASE_CAPTURE[0](release_id=release_id, by=by)


# --- who may: the checks each use case makes, also asked first by the entry points ----------


@logs_refusals()
def baseline_capture_check(*, by) -> None:
    if not has_any_role(by, CMDB_WRITERS):
        raise TransitionForbidden(CAPTURE, "Only a configuration manager or release manager may capture a baseline.")


def may_register_cis(user) -> bool:
    """Whether ``user`` may register configuration items (``ci_create_check``;
    the pages offer the way to it only to them)."""
    return has_any_role(user, CI_WRITERS)


@logs_refusals()
def ci_create_check(*, by) -> None:
    if not may_register_cis(by):
        raise TransitionForbidden("create", "Only a configuration manager may register configuration items.")


@logs_refusals(subject=lambda kw: (ConfigurationItem, kw["ci"].pk))
def ci_update_check(*, ci, by) -> None:
    if not has_any_role(by, CI_WRITERS):
        raise TransitionForbidden("update", "Only a configuration manager may edit configuration items.")


# --- baselines and configuration items ------------------------------------------------------


@logs_refusals()
@transaction.atomic
def baseline_capture(*, cis, name: str, kind: str = BaselineKind.MANUAL, release=None, by, description: str = "",
                     system: bool = False) -> Baseline:
    """Snapshot ``cis`` as they stand now into a new, immutable baseline."""
    if not system:
        baseline_capture_check(by=by)
    baseline = Baseline(name=name, kind=kind, release=release, description=description)
    baseline._history_user = by
    baseline.save()
    BaselineItem.objects.bulk_create(
        [
            BaselineItem(baseline=baseline, ci=ci, name=ci.name, version=ci.version, status=ci.status,
                         attributes=ci.attributes)
            for ci in ConfigurationItem.objects.filter(pk__in=[c.pk for c in cis]).order_by("name")
        ]
    )
    return run_transition(Baseline, baseline.pk, CAPTURE, by=by, system=True)


def ci_set_version(*, ci: ConfigurationItem, version: str, by, reason: str) -> bool:
    """Record a CI's new running version (history keeps the old one)."""
    if ci.version == version:
        return False
    ci.version = version
    ci._change_reason = reason
    ci._history_user = by
    ci.save()
    return True


@logs_refusals(subject=lambda kw: (Baseline, kw["baseline"].pk))
@transaction.atomic
def baseline_restore(*, baseline: Baseline, by, reason: str = "restore") -> list[ConfigurationItem]:
    """Return every CI of the baseline to the version it had when captured."""
    versions = baseline.versions()
    cis = list(ConfigurationItem.objects.select_for_update().filter(pk__in=versions).order_by("pk"))
    for ci in cis:
        ci_set_version(ci=ci, version=versions[ci.pk], by=by, reason=reason)
    return cis


def baseline_diff(a: Baseline, b: Baseline) -> list[dict]:
    """What changed from baseline ``a`` to ``b``, CI by CI."""
    before = {i.ci_id: i for i in a.items.all()}
    after = {i.ci_id: i for i in b.items.all()}
    rows = []
    for ci_id in sorted(set(before) | set(after), key=lambda i: (before.get(i) or after.get(i)).name):
        x, y = before.get(ci_id), after.get(ci_id)
        if x and y and x.version == y.version and x.status == y.status:
            continue
        rows.append({
            "ci": ci_id,
            "name": (x or y).name,
            "change": "added" if x is None else "removed" if y is None else "changed",
            "before": x.version if x else None,
            "after": y.version if y else None,
        })
    return rows


CI_EDITABLE_FIELDS = {"name", "ci_type", "version", "owner", "attributes", "depends_on"}


@logs_refusals()
@transaction.atomic
def ci_create(*, by, depends_on=(), **fields) -> ConfigurationItem:
    """Register a configuration item in the CMDB."""
    ci_create_check(by=by)
    unknown = set(fields) - CI_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})
    ci = ConfigurationItem(**fields)
    ci.full_clean(exclude=["status", "depends_on"])
    ci._history_user = by
    ci.save()
    ci.depends_on.set(depends_on)
    return ci


@logs_refusals(subject=lambda kw: (ConfigurationItem, kw["ci_id"]))
@transaction.atomic
def ci_update(*, ci_id, by, **fields) -> ConfigurationItem:
    """Edit a CI's attributes. Versions of CIs in a release change through the
    release (close, rollback); here the configuration manager corrects the record."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci_id)
    ci_update_check(ci=ci, by=by)
    unknown = set(fields) - CI_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be edited." for name in sorted(unknown)})
    depends_on = fields.pop("depends_on", None)
    if depends_on is not None and ci.pk in {d.pk for d in depends_on}:
        raise ValidationError({"depends_on": "A configuration item cannot depend on itself."})
    for key, value in fields.items():
        setattr(ci, key, value)
    ci.full_clean(exclude=["status", "depends_on"])
    ci._history_user = by
    ci.save()
    if depends_on is not None:
        ci.depends_on.set(depends_on)
    return ci


@logs_refusals(subject=lambda kw: (ConfigurationItem, kw["ci_id"]))
@transaction.atomic
def ci_set_dependencies(*, ci_id, depends_on, by) -> ConfigurationItem:
    """Replace what a CI depends on (``depends_on``: CIs or their ids); its
    history keeps the former set."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci_id)
    ci_update_check(ci=ci, by=by)
    ids = {getattr(d, "pk", d) for d in depends_on}
    if ci.pk in ids:
        raise ValidationError({"depends_on": "A configuration item cannot depend on itself."})
    ci._history_user = by
    ci.depends_on.set(ids)
    return ci


@logs_refusals(subject=lambda kw: (ConfigurationItem, kw["ci_id"]))
@signing.counts_failures
def ci_transition(*, ci_id, name: str, by, signature=None, **payload) -> ConfigurationItem:
    with transaction.atomic():
        return run_transition(ConfigurationItem, ci_id, name, by=by, payload=payload, signature=signature)


@logs_refusals(subject=lambda kw: (Baseline, kw["baseline_id"]))
def baseline_transition(*, baseline_id, name: str, by, **payload) -> Baseline:
    """A captured baseline's own step (archive); capture is ``baseline_capture``."""
    with transaction.atomic():
        return run_transition(Baseline, baseline_id, name, by=by, payload=payload)

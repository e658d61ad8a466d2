"""CMDB use cases: the only code that writes CIs and baselines."""
from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

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
@signing.counts_failures
def ci_transition(*, ci_id, name: str, by, signature=None, **payload) -> ConfigurationItem:
    with transaction.atomic():
        return run_transition(ConfigurationItem, ci_id, name, by=by, payload=payload, signature=signature)


@logs_refusals(subject=lambda kw: (Baseline, kw["baseline_id"]))
def baseline_transition(*, baseline_id, name: str, by, **payload) -> Baseline:
    """A captured baseline's own step (archive); capture is ``baseline_capture``."""
    with transaction.atomic():
        return run_transition(Baseline, baseline_id, name, by=by, payload=payload)


# --- a whole CMDB at once (loaded from a file: cmdb.resources) ------------------------------

BULK_REASON = "import"
BATCH = 500


def ci_clean(ci: ConfigurationItem) -> None:
    """A CI's own rules, as ``ci_create`` and ``ci_update`` check them, without
    a query: its owner is the caller's to have read, and names are checked
    unique for the whole batch by ``ci_bulk_save``."""
    ci.full_clean(exclude=["status", "depends_on", "owner"], validate_unique=False)


def _chunks(values, size=BATCH):
    values = list(values)
    return [values[i:i + size] for i in range(0, len(values), size)]


@logs_refusals()
@transaction.atomic
def ci_bulk_save(*, new=(), changed=(), fields=(), dependencies=None, by, reason: str = BULK_REASON) -> None:
    """``ci_create`` for the ``new`` CIs, ``ci_update`` (of ``fields``) for the
    ``changed`` ones, then what each CI of ``dependencies`` (``{ci_id: ids}``)
    depends on replaced: the same rules and history rows (one per CI and
    write, by ``by``), in a few queries per thousand CIs. States are not
    written here: they move through ``ci_transition``."""
    ci_create_check(by=by)
    new, changed = list(new), list(changed)
    for ci in new + changed:
        ci_clean(ci)
    names = [ci.name for ci in new]
    if len(set(names)) < len(names) or any(ConfigurationItem.objects.filter(name__in=c).exists()
                                           for c in _chunks(names)):
        raise ValidationError({"name": "A configuration item with this name already exists."})
    if new:
        bulk_create_with_history(new, ConfigurationItem, batch_size=BATCH, default_user=by,
                                 default_change_reason=reason)
    if changed:
        now = timezone.now()
        for ci in changed:
            ci.updated_at = now
        bulk_update_with_history(changed, ConfigurationItem, [*fields, "updated_at"], batch_size=BATCH,
                                 default_user=by, default_change_reason=reason)
    if dependencies:
        _replace_dependencies({pk: set(ids) for pk, ids in dependencies.items()}, by=by, reason=reason)


def _replace_dependencies(dependencies: dict[int, set], *, by, reason: str) -> None:
    """The through rows in bulk, then what simple_history writes when a CI's
    ``depends_on`` changes: a new history row of the CI, with the new set."""
    if any(pk in ids for pk, ids in dependencies.items()):
        raise ValidationError({"depends_on": "A configuration item cannot depend on itself."})
    through = ConfigurationItem.depends_on.through
    current = defaultdict(dict)
    for chunk in _chunks(dependencies):
        for row_id, source, target in through.objects.filter(from_configurationitem_id__in=chunk).values_list(
                "id", "from_configurationitem_id", "to_configurationitem_id"):
            current[source][target] = row_id
    gone = [row_id for pk, ids in dependencies.items() for target, row_id in current[pk].items() if target not in ids]
    for chunk in _chunks(gone):
        through.objects.filter(id__in=chunk).delete()
    through.objects.bulk_create([through(from_configurationitem_id=pk, to_configurationitem_id=target)
                                 for pk, ids in dependencies.items() for target in ids if target not in current[pk]],
                                batch_size=BATCH)
    cis = [ci for chunk in _chunks(dependencies) for ci in ConfigurationItem.objects.filter(pk__in=chunk)]
    records = {h.id: h for h in ConfigurationItem.history.bulk_history_create(
        cis, batch_size=BATCH, update=True, default_user=by, default_change_reason=reason)}
    m2m = apps.get_model(ConfigurationItem._meta.app_label, f"{ConfigurationItem.history.model.__name__}_depends_on")
    rows = []
    for chunk in _chunks(records.values()):
        by_ci = {h.id: h for h in chunk}
        for row_id, source, target in through.objects.filter(from_configurationitem_id__in=list(by_ci)).values_list(
                "id", "from_configurationitem_id", "to_configurationitem_id"):
            rows.append(m2m(history=by_ci[source], id=row_id, from_configurationitem_id=source,
                            to_configurationitem_id=target))
    m2m.objects.bulk_create(rows, batch_size=BATCH)

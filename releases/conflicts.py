"""What the guards ask about a release's configuration items: whether its
components depend on each other in a cycle, and which freeze windows and
other releases collide with a deployment window.

The release models declare their guards, so nothing here imports them: the
release's own relations (and the app registry, for freeze windows) lead to
the rows.
"""
from __future__ import annotations

import re

from django.apps import apps

from cmdb.models import ConfigurationItem


def dependency_cycle(release) -> list[str]:
    """A cycle among the scope's components (by ``depends_on``), or [].

    Packaging assembles components in dependency order, which exists only if
    the dependencies among the components in scope form no cycle.
    """
    ids = [item.ci_id for item in release.scope_items.all()]
    edges: dict[int, list[int]] = {i: [] for i in ids}
    through = ConfigurationItem.depends_on.through
    for src, dst in through.objects.filter(from_configurationitem_id__in=ids, to_configurationitem_id__in=ids) \
            .values_list("from_configurationitem_id", "to_configurationitem_id"):
        edges[src].append(dst)
    names = dict(ConfigurationItem.objects.filter(pk__in=ids).values_list("pk", "name"))
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(ids, WHITE)
    stack: list[int] = []

    def visit(node) -> list[int] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in edges[node]:
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = BLACK
        return None

    for start in ids:
        if colour[start] == WHITE and (cycle := visit(start)):
            return [names[i] for i in cycle]
    return []


ACTIVE_FOR_CONFLICTS = ("plan_approved", "scheduled", "packaging", "building", "built", "testing", "tests_passed",
                        "plans_updated", "ready", "go", "backed_up", "deploying", "deployed", "rolling_back")


def affected_ci_ids(release, *, dependencies: bool = False) -> set[int]:
    """The CIs in scope and the CIs that depend on them: what a deployment
    touches. With ``dependencies``, also the CIs the scope depends on, so that
    two releases on either end of a dependency see each other."""
    scope = {item.ci_id for item in release.scope_items.all()}
    through = ConfigurationItem.depends_on.through
    related = set(through.objects.filter(to_configurationitem_id__in=scope)
                  .values_list("from_configurationitem_id", flat=True))
    if dependencies:
        related |= set(through.objects.filter(from_configurationitem_id__in=scope)
                       .values_list("to_configurationitem_id", flat=True))
    return scope | related


def window_conflicts(release, start, end):
    """Freeze windows and other releases colliding with [start, end].

    Returns ``(freezes, releases)``: each a list of ``(object, [CI names])``;
    a global freeze lists no CI names.
    """
    freeze_windows = apps.get_model("releases", "FreezeWindow")
    scope_items = release.scope_items.model
    affected = affected_ci_ids(release)
    related = affected_ci_ids(release, dependencies=True)
    names = dict(ConfigurationItem.objects.filter(pk__in=related).values_list("pk", "name"))
    freezes = []
    for freeze in freeze_windows.objects.filter(start__lt=end, end__gt=start).prefetch_related("cis"):
        cis = [c.pk for c in freeze.cis.all()]
        if not cis:
            freezes.append((freeze, []))
        elif hit := sorted(names[c] for c in set(cis) & affected):
            freezes.append((freeze, hit))
    others = []
    candidates = (type(release).objects.exclude(pk=release.pk).filter(state__in=ACTIVE_FOR_CONFLICTS)
                  .filter(scope_items__ci__in=related).distinct().prefetch_related("plans"))
    for other in candidates:
        plan = other.current_plan
        o_start, o_end = ((plan.deployment_start, plan.deployment_end) if plan and plan.deployment_start
                          else (other.planned_start, other.planned_end))
        if o_start and o_end and o_start < end and start < o_end:
            shared = scope_items.objects.filter(release=other, ci__in=related).values_list("ci__name", flat=True)
            others.append((other, sorted(shared)))
    return freezes, others


# The states in which a release no longer changes its CIs: finished, given
# up, or restored to its baseline.
DONE_WITH_CIS = ("closed", "cancelled", "rolled_back")


def version_key(version: str):
    """A version as parts that compare as people read them ("1.10" after
    "1.9", "HAProxy 2.9" after "HAProxy 2.8"): numbers by value, words as
    text. Two versions compare only when their words match (``older``)."""
    parts = re.findall(r"\d+|[^\W\d_]+", (version or "").lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def older(version: str, than: str) -> bool:
    """Whether ``version`` is older than ``than``; False when they cannot be
    compared (different words: "Debian 12" and "Ubuntu 22.04")."""
    a, b = version_key(version), version_key(than)
    if not (a and b) or [p[2] for p in a if p[0]] != [p[2] for p in b if p[0]]:
        return False
    return a < b


def version_clashes(release):
    """What the release's target versions run into: ``(downgrades, shared)``,
    the scope items whose target is older than the version the CMDB holds,
    and ``(scope item, other release's scope item)`` for each CI in scope that
    another open release also changes. Reads the scope (prefetched with its
    CIs where the caller did) and one query for the other releases."""
    items = [i for i in release.scope_items.all() if i.target_version]
    downgrades = [i for i in items if older(i.target_version, i.ci.version)]
    mine = {i.ci_id: i for i in items}
    scope_items = release.scope_items.model
    shared = []
    if mine:
        others = (scope_items.objects.filter(ci_id__in=list(mine)).exclude(release_id=release.pk)
                  .exclude(release__state__in=DONE_WITH_CIS).select_related("release")
                  .order_by("ci_id", "release_id"))
        shared = [(mine[o.ci_id], o) for o in others]
    return downgrades, shared

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
from django.db.models import Q

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


def _reach(release) -> tuple[set[int], set[int]]:
    """What a deployment of ``release`` touches: ``(affected, related)``.

    ``affected`` is the CIs in scope and the CIs that depend on them;
    ``related`` adds the CIs the scope depends on, so that two releases on
    either end of a dependency see each other. One query for both directions
    (the scope itself is read from a prefetch where the caller made one)."""
    scope = {item.ci_id for item in release.scope_items.all()}
    dependents, dependencies = set(), set()
    if scope:
        through = ConfigurationItem.depends_on.through
        for src, dst in (through.objects.filter(Q(to_configurationitem_id__in=scope)
                                                | Q(from_configurationitem_id__in=scope))
                         .values_list("from_configurationitem_id", "to_configurationitem_id")):
            if dst in scope:
                dependents.add(src)
            if src in scope:
                dependencies.add(dst)
    affected = scope | dependents
    return affected, affected | dependencies


def window_conflicts(release, start, end):
    """Freeze windows and other releases colliding with [start, end].

    Returns ``(freezes, releases)``: each a list of ``(object, [CI names])``;
    a global freeze lists no CI names.

    The guards of scheduling and of the deployment's start ask this, and a
    pipeline polling the deployment gate asks it again and again, so its
    cost stays a handful of index lookups: the scope and its dependencies,
    the freeze windows of the period, the other releases' rows on the same
    CIs (with their states and windows), the plans of those still active,
    and the colliding releases and CI names only when something collides.
    """
    freeze_windows = apps.get_model("releases", "FreezeWindow")
    scope_items = release.scope_items.model
    affected, related = _reach(release)
    known: dict[int, str] = {}

    def names(ids) -> list[str]:
        """The CIs' names, sorted; read once, and only for what collides."""
        if missing := set(ids) - known.keys():
            known.update(ConfigurationItem.objects.filter(pk__in=missing).values_list("pk", "name"))
        return sorted(known[c] for c in ids)

    freezes = []
    for freeze in freeze_windows.objects.filter(start__lt=end, end__gt=start).prefetch_related("cis"):
        cis = {c.pk for c in freeze.cis.all()}
        if not cis:
            freezes.append((freeze, []))
        elif cis & affected:
            freezes.append((freeze, names(cis & affected)))
    if not related:
        return freezes, []
    # The other releases' rows on these CIs with their states and planned
    # windows: the release rows joined by their key (with a filter on the
    # state, PostgreSQL would walk every open release instead).
    shared: dict[int, set[int]] = {}
    planned = {}
    for release_id, ci_id, state, p_start, p_end in (
            scope_items.objects.filter(ci_id__in=related).exclude(release_id=release.pk).order_by()
            .values_list("release_id", "ci_id", "release__state", "release__planned_start", "release__planned_end")):
        if state in ACTIVE_FOR_CONFLICTS:
            shared.setdefault(release_id, set()).add(ci_id)
            planned[release_id] = (p_start, p_end)
    colliding = _in_window(planned, start, end) if planned else []
    others = list(type(release).objects.filter(pk__in=colliding)) if colliding else []
    return freezes, [(other, names(shared[other.pk])) for other in others]


def _in_window(planned: dict, start, end) -> list[int]:
    """Which of the releases (``planned``: their planned windows by id) have
    a window overlapping [start, end]: the current plan's deployment window
    where it has one (the newest plan, as ``Release.current_plan``), else the
    planned window. The plans are read as plain values: a poll of the gate
    asks this each time."""
    newest = {}
    for release_id, at, pk, d_start, d_end in (apps.get_model("releases", "ReleasePlan").objects
                                               .filter(release_id__in=list(planned)).order_by()
                                               .values_list("release_id", "created_at", "pk",
                                                            "deployment_start", "deployment_end")):
        if release_id not in newest or (at, pk) > newest[release_id][0]:
            newest[release_id] = ((at, pk), d_start, d_end)
    colliding = []
    for release_id, window in planned.items():
        _, d_start, d_end = newest.get(release_id, (None, None, None))
        o_start, o_end = (d_start, d_end) if d_start else window
        if o_start and o_end and o_start < end and start < o_end:
            colliding.append(release_id)
    return colliding


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

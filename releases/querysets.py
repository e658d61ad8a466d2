"""Read-side helpers: questions about releases that guards and views ask."""
from __future__ import annotations

from django.db.models import Q


def dependency_cycle(release) -> list[str]:
    """A cycle among the scope's components (by ``depends_on``), or [].

    Packaging assembles components in dependency order, which exists only if
    the dependencies among the components in scope form no cycle.
    """
    from cmdb.models import ConfigurationItem

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


def dependency_order(release) -> list:
    """The scope's CIs in the order packaging assembles them: dependencies first."""
    from graphlib import TopologicalSorter

    items = {i.ci_id: i.ci for i in release.scope_items.select_related("ci")}
    graph = {ci_id: [d.pk for d in ci.depends_on.all() if d.pk in items] for ci_id, ci in items.items()}
    return [items[i] for i in TopologicalSorter(graph).static_order()]


def freezes_hitting(release, at):
    """Freeze windows in force at ``at`` that are global or name a CI in scope."""
    from .models import FreezeWindow

    ci_ids = [item.ci_id for item in release.scope_items.all()]
    return (
        FreezeWindow.objects.filter(start__lte=at, end__gte=at)
        .filter(Q(cis__isnull=True) | Q(cis__in=ci_ids))
        .distinct()
    )

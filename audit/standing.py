"""The audit evidence of standard changes: each standing approval that
approved a release plan instead of CAB votes, and its withdrawal, with the
signatures the change managers gave them (``releases.standard_changes``)."""
from __future__ import annotations

from releases.models import CabVote, StandardChange
from releases.standard_changes import APPROVE, WITHDRAW, signatures_of


def _signature(sig) -> dict | None:
    if sig is None:
        return None
    return {"signer_username": sig.signer_username, "method": sig.method, "at": sig.at,
            "fingerprint": sig.fingerprint}


def evidence(ids) -> dict[int, list[dict]]:
    """Per standing approval: its approval and (if withdrawn) its withdrawal,
    as the fields of an evidence item (who, when, what, the signature).
    Three queries, none without ids."""
    if not ids:
        return {}
    standards = list(StandardChange.objects.filter(pk__in=ids).select_related("template").prefetch_related("cis"))
    signed = signatures_of(standards)
    out = {}
    for sc in standards:
        what = f"{sc.number}: template “{sc.template.name}”; CIs {', '.join(sorted(c.name for c in sc.cis.all()))}"
        rows = [dict(at=sc.approved_at, actor_id=sc.approved_by_id, action=APPROVE, outcome="approved",
                     detail=what + (f"; {sc.note}" if sc.note else ""),
                     signature=_signature(signed.get((sc.pk, APPROVE))))]
        if sc.withdrawn_at is not None:
            rows.append(dict(at=sc.withdrawn_at, actor_id=sc.withdrawn_by_id, action=WITHDRAW, outcome="withdrawn",
                             detail=f"{what}; {sc.withdrawal_reason}",
                             signature=_signature(signed.get((sc.pk, WITHDRAW)))))
        out[sc.pk] = rows
    return out


def standard_change_items(chunk, item_class) -> None:
    """The standing approvals that approved the chunk's plans, as items of
    the export (``audit.export``): at the CAB's step, beside its votes."""
    found = evidence({r["standard_change_id"] for r in chunk.releases} - {None})
    for r in chunk.releases:
        for row in found.get(r["standard_change_id"], ()):
            chunk.add(r["pk"], item_class("standard_change", step=CabVote.step, order=2, subject="",
                                          subject_title="", **row))

"""What a record's evidence panel shows: its files (newest version first,
each with what it superseded or what superseded it) and, to whoever may
attach, the form.

A page shows many records: their files are read once per page, for the
whole release (or RFC, or problem) at the first panel, and kept on the
request for the others, so the page's queries do not grow with its records.
Whether the form is offered is read from what the page already holds (the
user's roles, the release's state): no query per record either. The
service asks again, fully, when a file is posted."""
from __future__ import annotations

from collections import defaultdict

from django.contrib.contenttypes.models import ContentType

from releasemgmt.workflow import has_any_role

from .forms import AttachForm
from .kinds import KINDS, Kind
from .models import EvidenceFile
from .services import FINISHED, owner_of


def _files_of(request, kind: Kind, owner, fresh: bool) -> dict:
    cache = getattr(request, "_evidence_files", None)
    if cache is None:
        cache = request._evidence_files = {}
    key = (kind.owner, owner.pk)
    if fresh or key not in cache:
        grouped = defaultdict(list)
        for f in (EvidenceFile.objects.restrict(request.user).filter(**{kind.owner: owner.pk})
                  .select_related("uploaded_by", "superseded_by").order_by("-uploaded_at", "-id")):
            f.newer = getattr(f, "superseded_by", None)  # None when it is the current version
            grouped[(f.content_type_id, f.object_id)].append(f)
        cache[key] = grouped
    return cache[key]


def may_attach(user, kind: Kind, record, owner) -> bool:
    requester = kind.name == "rfc" and user.pk in (record.requester_id, record.raised_by_id)
    return (requester or has_any_role(user, kind.attachers)) and owner.state not in FINISHED[kind.owner]


def context(request, kind: Kind, record, *, form=None, fresh=False, owner=None) -> dict:
    """``owner``: the release (RFC, problem) the page holds already, so a
    record need not read its own."""
    owner = owner if owner is not None else owner_of(kind, record)
    listed = _files_of(request, kind, owner, fresh).get(
        (ContentType.objects.get_for_model(kind.model).pk, record.pk), [])
    offered = may_attach(request.user, kind, record, owner)
    return {"kind": kind, "record": record, "files": listed,
            "current": [f for f in listed if f.newer is None],
            "form": (form or AttachForm()) if offered else None, "request": request}


def kind_named(name: str) -> Kind | None:
    return KINDS.get(name)

"""The evidence files of the export's releases and RFCs: one ``evidence_file``
row per file, under the release its record (or problem record) belongs to,
or under its RFC, with the file's SHA-256 in ``file_sha256`` so an auditor
can check the file they download is the one attached. A superseded file
stays, and its row says which file superseded it."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from evidence.kinds import kind_of_model
from evidence.models import EvidenceFile


def evidence_items(chunk, item_class) -> None:
    """Add the chunk's files to it (one query, whatever their number)."""
    files = EvidenceFile.objects.filter(release_id__in=chunk.release_ids) | EvidenceFile.objects.filter(
        problem__release_id__in=chunk.release_ids) | EvidenceFile.objects.filter(rfc_id__in=list(chunk.rfcs))
    for f in files.order_by("uploaded_at", "pk").values(
            "pk", "content_type_id", "object_id", "release_id", "rfc_id", "problem__release_id",
            "name", "size", "sha256", "media_type", "note", "supersedes_id", "superseded_by__pk", "uploaded_by_id",
            "uploaded_at"):
        kind = kind_of_model(ContentType.objects.get_for_id(f["content_type_id"]).model_class())
        record = f"{kind.verbose if kind else 'record'} #{f['object_id']}"
        detail = "; ".join(part for part in (
            f"{f['name']} ({f['size']} bytes, {f['media_type']})", f["note"],
            f"replaces file #{f['supersedes_id']}" if f["supersedes_id"] else "",
            f"superseded by file #{f['superseded_by__pk']}" if f["superseded_by__pk"] else "") if part)
        item = item_class("evidence_file", f["uploaded_at"], f["uploaded_by_id"], "", "",
                          step=kind.model.step if kind and kind.owner == "release" else "",
                          action="attach_evidence", outcome="superseded" if f["superseded_by__pk"] else "current",
                          detail=f"file #{f['pk']} on {record}: {detail}", order=4, sha256=f["sha256"])
        release_id = f["release_id"] or f["problem__release_id"]
        if release_id in chunk.release_ids:
            chunk.add(release_id, item)
        elif f["rfc_id"] is not None:
            number, title = chunk.subject("changerequest", f["rfc_id"])
            item.subject, item.subject_title = number, title
            chunk.actor_ids.add(item.actor_id)
            chunk.by_rfc[f["rfc_id"]].append(item)

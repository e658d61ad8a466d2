"""The one writer of evidence files: attach a file to a record, or a new
version superseding one already attached. Every door (the pages, the API)
comes here, so who may attach, what is accepted and what is recorded are
decided once.

Who may attach to a record: whoever may see it (``restrict``; anyone else
gets a 404, as for the record itself) and holds one of its kind's roles
(``kinds``; 403 otherwise, the refusal kept). A closed or cancelled release,
and a closed RFC or problem, take no more files (409 ``invalid_state``): the
evidence of a finished change is what it was when it finished.
"""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import Http404

from releasemgmt.errors import Blocker, InvalidState, TransitionForbidden
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import has_any_role

from . import files
from .kinds import KINDS, Kind
from .models import EvidenceFile

# States in which the thing a file would be attached to is finished.
FINISHED = {"release": ("closed", "cancelled"), "rfc": ("closed", "rejected", "cancelled"),
            "problem": ("closed", "cancelled")}


class AttachRefused(TransitionForbidden):
    """A file attached by someone whose roles may not."""


class AttachClosed(InvalidState):
    """A file attached to a finished release, RFC or problem, or superseding
    a file already superseded."""


def kind_or_404(record_type: str) -> Kind:
    try:
        return KINDS[record_type]
    except KeyError:
        raise Http404("No such kind of record takes evidence files.") from None


def visible_record(kind: Kind, record_id: int, user):
    """The record, if ``user`` may see it (404 otherwise), with its owner."""
    qs = kind.model._default_manager.restrict(user)
    if kind.owner == "release":
        qs = qs.select_related("release")
    try:
        return qs.get(pk=record_id)
    except kind.model.DoesNotExist:
        raise Http404(f"No {kind.verbose} #{record_id} that you may see.") from None


def owner_of(kind: Kind, record):
    return record.release if kind.owner == "release" else record


def _subject(kwargs):
    kind = KINDS.get(kwargs.get("record_type"))
    return (kind.model, kwargs.get("record_id")) if kind else None


@logs_refusals(subject=_subject)
def attach_check(*, record_type: str, record_id: int, by):
    """Whether ``by`` may attach a file to this record now: 404, 403 or 409
    as the module says; the record when they may. Asked by the pages to
    offer the upload form, and again by ``attach`` under the owner's lock."""
    kind = kind_or_404(record_type)
    record = visible_record(kind, record_id, by)
    owner = owner_of(kind, record)
    requester = kind.name == "rfc" and by.pk in (record.requester_id, record.raised_by_id)
    if not (requester or has_any_role(by, kind.attachers)):
        roles = [r.replace("_", " ") for r in kind.attachers]
        who = " or ".join([", ".join(roles[:-1]), roles[-1]] if len(roles) > 1 else roles)
        raise AttachRefused("attach_evidence", f"Only the {who} may attach files to a {kind.verbose}"
                                               f"{' (and its requester)' if kind.name == 'rfc' else ''}.")
    _refuse_if_finished(kind, owner)
    return record


def _refuse_if_finished(kind: Kind, owner) -> None:
    if owner.state in FINISHED[kind.owner]:
        raise AttachClosed("attach_evidence", f"The {owner._meta.verbose_name} is {owner.state}: it takes no "
                                              "more files.", [Blocker("finished", "Its evidence is final.")])


@logs_refusals(subject=_subject)
@transaction.atomic
def attach(*, record_type: str, record_id: int, by, upload, note: str = "", supersedes=None) -> EvidenceFile:
    """Keep ``upload`` as evidence of the record: checked (``files.check``:
    a ``files.Refused`` says why not, and nothing is stored), stored through
    the configured storage, recorded with its SHA-256. ``supersedes``: the id
    of a file of the same record that this one replaces; it stays, listed as
    superseded, and can be superseded only once."""
    kind = kind_or_404(record_type)
    record = attach_check(record_type=record_type, record_id=record_id, by=by)
    accepted = files.check(upload)  # before any lock or write: a refused file costs nothing
    # One writer at a time per owner, so two versions cannot supersede the
    # same file; and its state read again under the lock (it may have closed since).
    owner = owner_of(kind, record)
    _refuse_if_finished(kind, type(owner).objects.select_for_update().only("state").get(pk=owner.pk))
    replaced = None
    if supersedes is not None:
        replaced = EvidenceFile.objects.filter(
            pk=supersedes, content_type=_content_type(kind), object_id=record.pk).first()
        if replaced is None:
            raise files.Refused(f"No file #{supersedes} is attached to this {kind.verbose}.", "invalid")
        if EvidenceFile.objects.filter(supersedes=replaced).exists():
            raise AttachClosed("attach_evidence", f"File #{replaced.pk} is already superseded: supersede its "
                                                  "newest version.", [Blocker("superseded", "Already superseded.")])
    evidence = EvidenceFile(content_type=_content_type(kind), object_id=record.pk,
                            **{kind.owner: owner_of(kind, record)},
                            name=_clean_name(upload.name), size=upload.size, sha256=files.sha256_of(upload),
                            media_type=accepted.media_type, note=note, supersedes=replaced, uploaded_by=by)
    evidence.file.save(evidence.name, upload, save=False)
    evidence._history_user = by
    try:
        evidence.save()
    except BaseException:
        # No file is kept without its row. (A transaction of the caller's
        # rolled back later leaves a stored file no row names: never served.)
        evidence.file.storage.delete(evidence.file.name)
        raise
    return evidence


def _content_type(kind: Kind):
    return ContentType.objects.get_for_model(kind.model)


def _clean_name(name: str) -> str:
    """The uploaded name without any path (a browser may send one), within the column."""
    base = (name or "file").replace("\\", "/").rsplit("/", 1)[-1].strip() or "file"
    stem, dot, ext = base.rpartition(".")
    return base if len(base) <= 200 else f"{stem[:200 - len(ext) - 1]}.{ext}" if dot else base[:200]

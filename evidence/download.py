"""Serving an evidence file: only ever through here, after the caller has
found it through ``EvidenceFile.objects.restrict`` (the record's own
authorization). There is no public URL to the store: local files live under
a MEDIA_ROOT nothing serves, and an S3 bucket is private."""
from __future__ import annotations

import base64

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404

from .models import EvidenceFile


def downloadable(user, pk) -> EvidenceFile:
    """The file ``user`` may download. A file that exists but hangs on a
    record ``user`` may not see is refused with 403, not hidden behind a 404:
    a download link is handed around (an email, an audit export), and whoever
    follows it should learn that it is there and not theirs, rather than that
    it is broken. Only the file's number is confirmed; its name, hash and
    record stay hidden."""
    try:
        return EvidenceFile.objects.restrict(user).get(pk=pk)
    except EvidenceFile.DoesNotExist:
        if EvidenceFile.objects.filter(pk=pk).exists():
            raise PermissionDenied("You may not see the record this file is attached to.") from None
        raise Http404("No such evidence file.") from None


def file_response(evidence) -> FileResponse:
    """The file as an attachment of no particular type (a browser saves it,
    never renders it in the app's origin; the type its content showed is in
    its record, ``media_type``), no sniffing, and its recorded SHA-256
    (``Digest``, RFC 3230), so a client can check what it received."""
    response = FileResponse(evidence.file.open("rb"), as_attachment=True, filename=evidence.name,
                            content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(evidence.sha256)).decode()
    response["Cache-Control"] = "private, no-store"
    return response

"""The audit evidence page: pick a date range, download the CSV (the same
file as ``GET /api/audit/evidence/``; see ``releases.audit_export``)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render

from releasemgmt.workflow import has_any_role

from ..audit_export import EXPORTER_ROLES, EvidenceRangeForm, evidence_csv, filename_for


def csv_download(form: EvidenceRangeForm, user) -> StreamingHttpResponse:
    """The export of a valid range, of what ``user`` may see, as a streamed
    attachment: a five-year range is written as it is read, never held whole
    in memory."""
    response = StreamingHttpResponse(evidence_csv(*form.bounds(), viewer=user), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{filename_for(form.cleaned_data["from"], form.cleaned_data["to"])}"')
    # Evidence names people and decisions: no shared cache keeps a copy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def audit_export_view(request):
    if not has_any_role(request.user, EXPORTER_ROLES):
        raise PermissionDenied("Only a change manager or release manager may export audit evidence.")
    # A GET form: downloading changes nothing, and the URL can be bookmarked per period.
    if "from" in request.GET or "to" in request.GET:
        form = EvidenceRangeForm(request.GET)
        if form.is_valid():
            return csv_download(form, request.user)
        return render(request, "releases/audit_export.html", {"form": form}, status=400)
    return render(request, "releases/audit_export.html", {"form": EvidenceRangeForm()})

"""The audit evidence page: pick a date range, download the CSV (the same
file as ``GET /api/audit/evidence/``; see ``audit.export``)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import render

from releasemgmt.workflow import TransitionError

from releasemgmt.ui import forbid

from .export import evidence_export, export_check
from .forms import EvidenceRangeForm, filename_for


def csv_download(form: EvidenceRangeForm, *, by) -> StreamingHttpResponse:
    """The export of a valid range as a streamed attachment: a five-year
    range is written as it is read, never held whole in memory."""
    start, end = form.bounds()
    response = StreamingHttpResponse(evidence_export(by=by, start=start, end=end),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{filename_for(form.cleaned_data["from"], form.cleaned_data["to"])}"')
    # Evidence names people and decisions: no shared cache keeps a copy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def audit_export_view(request):
    try:
        export_check(by=request.user)
    except TransitionError as exc:
        forbid(exc)
    # A GET form: downloading changes nothing, and the URL can be bookmarked per period.
    if "from" in request.GET or "to" in request.GET:
        form = EvidenceRangeForm(request.GET)
        if form.is_valid():
            return csv_download(form, by=request.user)
        return render(request, "releases/audit_export.html", {"form": form}, status=400)
    return render(request, "releases/audit_export.html", {"form": EvidenceRangeForm()})

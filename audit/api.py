"""``GET /api/audit/evidence/?from=&to=``: the audit evidence of a date range
as CSV (see ``audit.export`` for what is selected and the columns)."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from releasemgmt.api import VALIDATION_ERROR, ErrorSerializer

from .export import COLUMNS, EVIDENCE_TYPES, export_check
from .forms import MAX_RANGE_DAYS, EvidenceRangeForm
from .views import csv_download

DESCRIPTION = f"""The change-management trail as one CSV (UTF-8 with a byte-order mark), one row per
evidence item, for releases created or active (a transition of the release or of one of its RFCs) in the
range, with all of their evidence, also outside the range; and RFCs in no release raised or moved in it.

Columns: {", ".join(f"`{c}`" for c in COLUMNS)}.

`evidence_type`: {", ".join(f"`{t}`" for t in EVIDENCE_TYPES)}.

`independent` (`yes`/`no`, computed) on approvals: the actor is neither the release manager nor a requester
of the RFCs concerned, nor whoever raised one in the requester's name; on test results and PIRs: the actor is not
the release manager; blank elsewhere. `entry_point` on refused attempts: the door they came through (`api`, `ui`,
`admin`, `command`); blank elsewhere.
Cells that a spreadsheet would run as a formula start with `'`.

Change managers and release managers only. `from` and `to` are days (UTC), both included, covering
at most {MAX_RANGE_DAYS} days (five years); a missing or invalid day, `to` before `from` or a longer range is a 400 naming
the parameter."""


class AuditEvidenceView(APIView):
    """The audit evidence export."""

    # Only errors go through a renderer (the CSV is streamed as is): answer
    # them as JSON even when the client asked for text/csv only, not 406.
    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="audit_evidence",
        summary="Audit evidence of a date range (CSV)",
        description=DESCRIPTION,
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True, description="First day (UTC), included."),
            OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="Last day (UTC), included."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="The CSV, as an attachment named `audit-evidence_<from>_<to>.csv`."),
            400: VALIDATION_ERROR, 401: ErrorSerializer, 403: ErrorSerializer,
        },
    )
    def get(self, request):
        # Who may first: someone who may not export learns nothing from a 400.
        export_check(by=request.user)
        form = EvidenceRangeForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
        return csv_download(form, by=request.user)

"""The evidence pages: attach a file in place (the record's panel on the
release, RFC or problem page, with htmx; a plain form post without it) and
download one. They translate; ``services`` decides."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from releasemgmt.ui import error_lines, forbid, role_required
from releasemgmt.workflow import TransitionError

from . import files, panel, services
from .download import downloadable, file_response
from .forms import AttachForm


def record_page(kind, record) -> str:
    """Where the record is shown, at its panel."""
    anchor = f"#evidence-{kind.name}-{record.pk}"
    if kind.owner == "release":
        return reverse("releases:detail", args=[record.release_id]) + anchor
    name = "changes:detail" if kind.owner == "rfc" else "changes:problem_detail"
    return reverse(name, args=[record.pk]) + anchor


@require_POST
@role_required
def attach_view(request, record_type: str, record_id: int):
    """A file posted from a record's panel: the panel again (htmx), with the
    file listed or the reason it was refused (400); without htmx, back to
    the page (or, refused, the panel alone with the reason)."""
    kind = services.kind_or_404(record_type)
    form = AttachForm(request.POST, request.FILES)
    status = 201
    if form.is_valid():
        try:
            services.attach(record_type=record_type, record_id=record_id, by=request.user,
                            upload=form.cleaned_data["file"], note=form.cleaned_data["note"],
                            supersedes=form.cleaned_data["supersedes"])
        except files.Refused as exc:
            form.add_error("supersedes" if exc.code == "invalid" else "file", str(exc))
            status = 400
        except TransitionError as exc:
            if exc.status == 403:
                forbid(exc)
            for line in error_lines(exc):
                form.add_error(None, line)
            status = exc.status
    else:
        status = 400
    record = services.visible_record(kind, record_id, request.user)
    if status == 201:
        if not request.htmx:
            return redirect(record_page(kind, record))
        form, status = AttachForm(), 200
    context = panel.context(request, kind, record, form=form, fresh=True)
    return TemplateResponse(request, "evidence/panel.html", context, status=status)


@require_GET
@login_required
def download_view(request, pk: int):
    """The file, to whoever may see the record it is attached to (403 to
    anyone else; see ``downloadable``)."""
    return file_response(downloadable(request.user, pk))

"""Export the audit evidence of a date range as CSV, for auditors' scripted
pulls: the same file as ``GET /api/audit/evidence/`` and the "Audit evidence"
page (see ``audit.export`` for what is selected and the columns).

    manage.py export_audit_evidence --from 2026-01-01 --to 2026-03-31 --output q1.csv [--user cm]

Without ``--output`` the CSV goes to stdout. With ``--user`` the export is
taken as that user, and like the API and the page it is refused (and the
refusal kept, naming the ``command`` door) unless they are a release or
change manager; without it, it runs with the authority of whoever runs
``manage.py`` (who holds the database's credentials anyway). A bad range is refused before
anything is written; with ``--output`` the file appears only once complete
(written beside it, then renamed), so a failed run never leaves half a file
that could be mistaken for the evidence.
"""
from __future__ import annotations

import os
import tempfile

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from releasemgmt import entrypoints
from releasemgmt.workflow import TransitionError
from audit.export import evidence_csv, evidence_export
from audit.forms import EvidenceRangeForm


class Command(BaseCommand):
    help = "Export the change-management audit evidence (releases and RFCs) of a date range as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="First day, YYYY-MM-DD (UTC), included.")
        parser.add_argument("--to", dest="date_to", required=True, help="Last day, YYYY-MM-DD (UTC), included.")
        parser.add_argument("--output", "-o", help="File to write (default: stdout).")
        parser.add_argument("--user", help="Export as this user (a release or change manager).")

    def execute(self, *args, **options):
        # manage.py names the door for the whole process; called from code
        # (call_command) where nothing has named one, this is still a command.
        door = entrypoints.current()
        with entrypoints.entered(entrypoints.COMMAND if door == entrypoints.SHELL else door):
            return super().execute(*args, **options)

    def handle(self, *args, date_from, date_to, output=None, user=None, **options):
        form = EvidenceRangeForm({"from": date_from, "to": date_to})
        if not form.is_valid():
            reasons = "; ".join(f"--{name}: {' '.join(messages)}" for name, messages in form.errors.items())
            raise CommandError(f"Nothing written. {reasons}")
        start, end = form.bounds()
        if user is None:
            lines = evidence_csv(start, end)
        else:
            exporter = get_user_model().objects.filter(username=user, is_active=True).first()
            if exporter is None:
                raise CommandError(f"Nothing written. --user: no active user is named {user!r}.")
            try:
                lines = evidence_export(by=exporter, start=start, end=end)
            except TransitionError as exc:
                raise CommandError(f"Nothing written. {exc.detail}") from exc
        if not output:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        directory = os.path.dirname(os.path.abspath(output))
        fd, partial = tempfile.mkstemp(prefix=".audit-evidence-", suffix=".csv.part", dir=directory)
        try:
            # newline="": the csv module already ends rows with CRLF.
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)
            os.replace(partial, output)
        except BaseException:
            os.unlink(partial)
            raise
        self.stderr.write(f"Audit evidence written to {output}.")

"""Load configuration items (with their versions and dependencies) or RFCs
from a CSV or XLSX file, as the admin's Import button does
(``releasemgmt.imports``; the columns are those ``export_cmdb`` writes).

    manage.py import_cmdb cmdb.xlsx --user confman [--dry-run] [--format csv|xlsx] [--model cis|rfcs]

Each row is written by the model's services, as ``--user`` (a configuration
manager). Prints one line per row (new, updated, unchanged) and the totals.
The file is one transaction: a dry run writes nothing, and when any row
fails nothing is written, every error is printed with its row and line, and
the command exits non-zero.
"""
from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from releasemgmt import entrypoints, imports
from releasemgmt.workflow import TransitionError


def read_dataset(path: str, file_format: str | None):
    """The file as a tablib Dataset, its format from ``file_format`` or its extension."""
    name = (file_format or Path(path).suffix.lstrip(".")).lower()
    if name not in imports.FORMATS:
        raise CommandError(f"Nothing written. Give --format csv or xlsx (the file's extension is {name!r}).")
    fmt = imports.FORMATS[name](encoding="utf-8-sig")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return fmt.create_dataset(data if fmt.is_binary() else data.decode("utf-8-sig"))
    except OSError as exc:
        raise CommandError(f"Nothing written. {path}: {exc.strerror}.") from exc
    except Exception as exc:  # a file that is not what its format says
        raise CommandError(f"Nothing written. {path} could not be read as {name}: {exc}") from exc


def acting_user(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"Nothing written. --user: no active user is named {username!r}.")
    return user


class Command(BaseCommand):
    help = "Import configuration items or RFCs from a CSV or XLSX file (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV or XLSX file.")
        parser.add_argument("--user", required=True, help="Import as this user (a configuration manager).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")
        parser.add_argument("--format", choices=sorted(imports.FORMATS), help="Default: the file's extension.")
        parser.add_argument("--model", default="cis", help="cis (configuration items, default) or rfcs.")

    def execute(self, *args, **options):
        door = entrypoints.current()
        with entrypoints.entered(entrypoints.COMMAND if door == entrypoints.SHELL else door):
            return super().execute(*args, **options)

    def handle(self, *args, file, user, dry_run=False, format=None, model="cis", **options):
        if model not in imports.RESOURCES:
            raise CommandError(f"Nothing written. --model is one of {', '.join(sorted(imports.RESOURCES))}.")
        dataset = read_dataset(file, format)
        importer = acting_user(user)
        try:
            result = imports.RESOURCES[model](by=importer, preview=False).import_data(dataset, dry_run=dry_run, user=importer)
        except TransitionError as exc:
            raise CommandError(f"Nothing written. {exc.detail}") from exc
        errors = imports.error_lines(result)
        if errors:
            for line in errors:
                self.stderr.write(line)
            raise CommandError(f"Nothing written: {len(errors)} error(s) in {file}.")
        for line in imports.row_lines(result):
            self.stdout.write(line)
        counts = ", ".join(f"{n} {kind}" for kind, n in imports.totals(result).items())
        verdict = "Dry run, nothing written" if dry_run else "Imported"
        self.stdout.write(f"{verdict}: {counts}.")

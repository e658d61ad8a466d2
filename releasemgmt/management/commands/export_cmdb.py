"""Write configuration items or RFCs to a CSV or XLSX file, in the columns
``import_cmdb`` reads back: what ``--user`` may read.

    manage.py export_cmdb cmdb.xlsx --user confman [--format csv|xlsx] [--model cis|rfcs]

The file appears only once complete (written beside it, then renamed).
"""
from __future__ import annotations

import os
import tempfile

from django.core.management.base import BaseCommand, CommandError

from releasemgmt import entrypoints, imports

from .import_cmdb import acting_user


class Command(BaseCommand):
    help = "Export configuration items or RFCs to a CSV or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The file to write (.csv or .xlsx).")
        parser.add_argument("--user", required=True, help="Export what this user may read.")
        parser.add_argument("--format", choices=sorted(imports.FORMATS), help="Default: the file's extension.")
        parser.add_argument("--model", default="cis", help="cis (configuration items, default) or rfcs.")

    def execute(self, *args, **options):
        door = entrypoints.current()
        with entrypoints.entered(entrypoints.COMMAND if door == entrypoints.SHELL else door):
            return super().execute(*args, **options)

    def handle(self, *args, file, user, format=None, model="cis", **options):
        if model not in imports.RESOURCES:
            raise CommandError(f"Nothing written. --model is one of {', '.join(sorted(imports.RESOURCES))}.")
        name = (format or os.path.splitext(file)[1].lstrip(".")).lower()
        if name not in imports.FORMATS:
            raise CommandError(f"Nothing written. Give --format csv or xlsx (the file's extension is {name!r}).")
        resource = imports.RESOURCES[model](by=acting_user(user))
        dataset = resource.export(queryset=resource.get_queryset())
        data = imports.FORMATS[name]().export_data(dataset)
        if isinstance(data, str):
            data = data.encode("utf-8")
        directory = os.path.dirname(os.path.abspath(file))
        fd, partial = tempfile.mkstemp(prefix=".export-", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, file)
        except BaseException:
            os.unlink(partial)
            raise
        self.stderr.write(f"{len(dataset)} rows written to {file}.")

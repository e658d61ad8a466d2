"""Shared by the import and export tests: the importer, a file writer and
the command, run as the importer."""
import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cmdb.models import ConfigurationItem

HEADER = ["name", "ci_type", "version", "status", "owner", "depends_on", "attributes"]


@pytest.fixture
def confman(make_user):
    return make_user("configuration_manager", username="confman", is_staff=True)


@pytest.fixture
def write_csv(tmp_path):
    def write(rows, header=HEADER, name="cmdb.csv"):
        path = tmp_path / name
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path
    return write


@pytest.fixture
def run(confman):
    """``run(path, *options, user=confman)``: (exit ok, stdout, stderr)."""
    def command(*args, user=None, **options):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, "--user", (user or confman).username, stdout=out, stderr=err, **options)
        except CommandError as exc:
            return False, out.getvalue(), f"{err.getvalue()}{exc}"
        return True, out.getvalue(), err.getvalue()
    return command


@pytest.fixture
def small_cmdb(confman):
    """Three CIs with an owner, attributes (one a spreadsheet would read as a
    formula) and two dependencies, as the services register them."""
    from cmdb.services import ci_create

    db = ci_create(by=confman, name="orders-db", ci_type="database", version="14.1")
    cache = ci_create(by=confman, name="=cache", ci_type="service", version="7", attributes={"note": "-1"})
    ci_create(by=confman, name="orders-api", version="2.3", owner=confman, depends_on=[db, cache],
              attributes={"site": "eu-1", "tier": 1})
    return ConfigurationItem.objects.order_by("name")


def history_rows():
    return ConfigurationItem.history.count() + ConfigurationItem.depends_on.through.objects.count()

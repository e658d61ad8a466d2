"""manage.py import_cmdb / export_cmdb with configuration items: all rows or
none, a dry run that writes nothing, a round trip that changes nothing, and
states that move only through their transitions."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cmdb.models import ConfigurationItem
from releases.models import TransitionLog

from .conftest import history_rows

pytestmark = pytest.mark.django_db


def test_a_file_with_one_bad_row_writes_nothing_and_names_the_row(run, write_csv):
    path = write_csv([
        ["orders-api", "application", "2.3", "", "", "orders-db", ""],
        ["orders-db", "database", "14", "", "nobody-here", "", ""],   # row 2: unknown owner
        ["payments", "application", "1.0", "", "", "ledger", ""],     # row 3: unknown dependency
        ["search", "mainframe", "1", "", "", "", ""],                 # row 4: no such type
    ])
    ok, out, err = run("import_cmdb", str(path))
    assert not ok and "Nothing written: 3 error(s)" in err
    assert "row 2 (line 3): owner: No user is named “nobody-here”." in err
    assert "row 3 (line 4): depends_on: No configuration item is named “ledger”" in err
    assert "row 4 (line 5): ci_type: Value 'mainframe' is not a valid choice." in err
    assert "row 1 " not in err
    assert not ConfigurationItem.objects.exists() and history_rows() == 0


def test_a_dry_run_reports_each_row_and_writes_nothing(run, write_csv, small_cmdb):
    before = history_rows()
    path = write_csv([
        ["orders-api", "application", "2.4", "live", "confman", "orders-db", '{"site": "eu-1", "tier": 1}'],
        ["orders-db", "database", "14.1", "retired", "", "", ""],
        ["=cache", "service", "7", "live", "", "", '{"note": "-1"}'],
        ["ledger", "database", "1.0", "", "", "orders-db", ""],
    ])
    ok, out, _ = run("import_cmdb", str(path), "--dry-run")
    assert ok, out
    assert out.splitlines() == [
        "row 1 (line 2): updated orders-api 2.4", "row 2 (line 3): updated orders-db 14.1",
        "row 3 (line 4): unchanged =cache 7", "row 4 (line 5): new ledger 1.0",
        "Dry run, nothing written: 1 new, 2 updated, 1 unchanged."]
    assert history_rows() == before and not TransitionLog.objects.exists()
    assert list(small_cmdb.values_list("name", "version", "status")) == [
        ("=cache", "7", "live"), ("orders-api", "2.3", "live"), ("orders-db", "14.1", "live")]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(run, tmp_path, small_cmdb, fmt):
    path = tmp_path / f"cmdb.{fmt}"
    assert run("export_cmdb", str(path))[0]
    before = history_rows()
    with CaptureQueriesContext(connection) as queries:
        ok, out, _ = run("import_cmdb", str(path))
    assert ok and out.splitlines()[-1] == "Imported: 0 new, 0 updated, 3 unchanged."
    assert history_rows() == before
    # The file is read in a few queries, whatever its length (each row has
    # its savepoint, so that a failing row leaves the others their say).
    reads = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(reads) <= 6, "\n".join(reads)


def test_written_rows_go_through_the_services_and_the_transitions(run, write_csv, small_cmdb, confman):
    path = write_csv([
        ["orders-api", "application", "2.4", "live", "confman", "orders-db; ledger", '{"site": "eu-1"}'],
        ["orders-db", "database", "14.1", "retired", "", "", ""],
        ["ledger", "database", "1.0", "", "", "", ""],
    ])
    ok, out, err = run("import_cmdb", str(path))
    assert ok, err
    api = ConfigurationItem.objects.get(name="orders-api")
    assert (api.version, api.attributes) == ("2.4", {"site": "eu-1"})
    assert sorted(api.depends_on.values_list("name", flat=True)) == ["ledger", "orders-db"]
    assert ConfigurationItem.objects.get(name="orders-db").status == "retired"
    log = TransitionLog.objects.get()
    assert (log.source, log.target, log.by) == ("live", "retired", confman)
    assert {h.history_user for h in ConfigurationItem.history.filter(name__in=["orders-api", "ledger"])} == {confman}
    latest = api.history.first()
    assert latest.version == "2.4" and api.history.filter(version="2.3").exists()
    assert {row.to_configurationitem.name for row in latest.depends_on.all()} == {"ledger", "orders-db"}


def test_a_status_no_transition_reaches_is_refused(run, write_csv, small_cmdb):
    path = write_csv([["orders-db", "database", "14.1", "planned", "", "", ""]])
    ok, _, err = run("import_cmdb", str(path))
    assert not ok and "row 1 (line 2): status: No transition takes a configuration item from live to planned" in err
    assert ConfigurationItem.objects.get(name="orders-db").status == "live"


def test_only_a_configuration_manager_imports(run, write_csv, make_user):
    from releases.models import RefusedAttempt

    rm = make_user("release_manager")
    ok, _, err = run("import_cmdb", str(write_csv([["x", "application", "1", "", "", "", ""]])), user=rm)
    assert not ok and "Only a configuration manager may import" in err
    assert not ConfigurationItem.objects.exists()
    refused = RefusedAttempt.objects.get()
    assert (refused.by, refused.action, refused.entry_point) == (rm, "import", "command")

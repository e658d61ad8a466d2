"""History cannot be rewritten, whatever the settings: the test database was
created by ``migrate`` under the settings of this run (the production pass
creates it under ``releasemgmt.settings.production``), and after it every
append-only table (the history tables, the transition log, the refused
attempts, any model that declares ``append_only = True``) has its trigger,
and the database refuses UPDATE and DELETE on their rows. The deploy check
reports a table that lacks it."""
from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import DatabaseError, connection, transaction
from simple_history.models import HistoricalChanges

from releasemgmt.audit import history_tables
from releases.models import RefusedAttempt, Release, TransitionLog
from releases.scenario import Walker, new_release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Named in the audit promise; the rest are found by what they are.
NAMED = [Release.history.model, TransitionLog, TransitionLog.history.model, RefusedAttempt]


def guarded_events() -> dict[str, set[str]]:
    """Per table, the events a row-level BEFORE trigger of that name guards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_object_table, event_manipulation FROM information_schema.triggers "
                       "WHERE trigger_name = 'history_append_only' AND action_timing = 'BEFORE' "
                       "AND action_orientation = 'ROW'")
        events: dict[str, set[str]] = {}
        for table, event in cursor.fetchall():
            events.setdefault(table, set()).add(event)
    return events


def test_the_append_only_tables_are_every_history_table_the_log_and_the_refusals():
    tables = set(history_tables())
    for model in NAMED:
        assert model._meta.db_table in tables, model
    for model in apps.get_models():
        if issubclass(model, HistoricalChanges) or getattr(model, "append_only", False) is True:
            assert model._meta.db_table in tables, model
    assert len(tables) > 30


def test_migrate_left_the_trigger_on_every_append_only_table():
    events = guarded_events()
    unguarded = [t for t in history_tables() if events.get(t, set()) < {"UPDATE", "DELETE"}]
    assert not unguarded, f"accept UPDATE or DELETE: {unguarded}"


@pytest.fixture
def audit_rows(actors, cis):
    """A release walked through to its closure (history rows in most history
    tables, transition log rows) and a refused attempt."""
    Walker(new_release(actors, cis=cis), actors).to("closed")
    RefusedAttempt.objects.create(by=actors.requester, username=actors.requester.username, action="close",
                                  code="forbidden", detail="Only the release manager may close a release.")


def test_the_database_refuses_update_and_delete_on_every_audit_row(audit_rows):
    tried = []
    for model in apps.get_models():
        table = model._meta.db_table
        if table not in history_tables() or not model._base_manager.exists():
            continue
        name, pk = connection.ops.quote_name(table), connection.ops.quote_name(model._meta.pk.column)
        one_row = f"{pk} = (SELECT {pk} FROM {name} ORDER BY {pk} LIMIT 1)"
        before = model._base_manager.count()
        for statement in (f"UPDATE {name} SET {pk} = {pk} WHERE {one_row}", f"DELETE FROM {name} WHERE {one_row}"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
                c.execute(statement)
        assert model._base_manager.count() == before, table
        tried.append(model)
    assert set(NAMED) <= set(tried)
    # The walk leaves rows in most history tables: the refusal is shown on them, not on a sample.
    assert len(tried) > 15, [m._meta.db_table for m in tried]


def deploy_check():
    """``manage.py check --deploy --tag security``: raises on an error (warnings pass)."""
    call_command("check", "--deploy", "--tag", "security", stdout=io.StringIO(), stderr=io.StringIO())


def test_the_deploy_check_reports_a_table_without_its_trigger():
    deploy_check()  # nothing missing after migrate
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER history_append_only ON releases_transitionlog")
            cursor.execute("ALTER TABLE releases_historicalrelease DISABLE TRIGGER history_append_only")
        with pytest.raises(SystemCheckError, match="releasemgmt.E001") as failed:
            deploy_check()
        transaction.set_rollback(True)  # the test's own tables keep their triggers
    assert "releases_historicalrelease, releases_transitionlog" in str(failed.value)
    deploy_check()

"""History is append-only on PostgreSQL: the database itself refuses to
rewrite or delete it."""
import pytest
from django.db import DatabaseError, connection, transaction

from releasemgmt.audit import history_tables
from releases.models import Release
from releases.scenario import Walker, new_release

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_history_rows_cannot_be_updated_or_deleted(actors, cis):
    release = Walker(new_release(actors, cis=cis), actors).to("planning")
    rows = Release.history.filter(id=release.pk)
    count = rows.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.update(state="closed")  # what an attacker with SQL access would try
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        rows.delete()
    assert Release.history.filter(id=release.pk).count() == count
    assert set(Release.history.filter(id=release.pk).values_list("state", flat=True)) == {"new", "planning"}


def test_every_history_table_has_the_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT event_object_table FROM information_schema.triggers "
                       "WHERE trigger_name = 'history_append_only'")
        guarded = {row[0] for row in cursor.fetchall()}
    assert len(history_tables()) > 30
    assert set(history_tables()) <= guarded

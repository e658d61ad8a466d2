"""RFCs from a file: raised through rfc_create, corrected through rfc_update
(by whom it allows), never moved between states."""
import pytest

from changes.models import ChangeRequest
from changes.services import rfc_create
from releases.models import RefusedAttempt

pytestmark = pytest.mark.django_db
HEADER = ["id", "title", "description", "requester", "change_type", "risk", "impact", "state"]


def test_new_rows_are_raised_and_existing_ones_refuse_what_the_service_refuses(run, write_csv, confman,
                                                                                make_user):
    requester = make_user("stakeholder", username="ana")
    theirs = rfc_create(by=requester, title="Faster checkout", description="Cache the basket.")
    path = write_csv([
        ["", "New index", "Add an index.\n", "ana", "standard", "low", "", ""],
        [theirs.pk, "Faster checkout, now", "Cache the basket.", "ana", "normal", "medium", "medium", "submitted"],
        [theirs.pk + 1000, "Ghost", "", "", "", "", "", ""],
        ["", "Skip ahead", "No.", "", "", "", "", "authorized"],
    ], header=HEADER)
    ok, _, err = run("import_cmdb", str(path), "--model", "rfcs")
    assert not ok
    assert "row 2 (line 3): Only the requester or a change manager may edit this RFC." in err
    assert f"row 3 (line 4): id: No RFC has the id {theirs.pk + 1000}" in err
    assert "row 4 (line 5): state: A new RFC is raised submitted" in err
    assert list(ChangeRequest.objects.values_list("title", flat=True)) == ["Faster checkout"]
    # The refused write is kept, though the file's transaction was rolled back.
    assert RefusedAttempt.objects.get().object_id == theirs.pk

    ok, out, err = run("import_cmdb", str(write_csv([row for row in [[
        "", "New index", "Add an index.\n", "ana", "standard", "low", "", ""]]], header=HEADER)), "--model", "rfcs")
    assert ok, err
    new = ChangeRequest.objects.get(title="New index")
    assert (new.requester, new.raised_by, new.state, new.description) == (requester, confman, "submitted",
                                                                          "Add an index.\n")
    assert (new.change_type, new.risk, new.impact) == ("standard", "low", "medium")
    assert new.history.get().history_user == confman


def test_an_rfc_export_imports_back_unchanged(run, tmp_path, make_user):
    requester = make_user("stakeholder", username="ana")
    rfc_create(by=requester, title="=HYPERLINK(\"x\")", description="Two\nlines")
    path = tmp_path / "rfcs.xlsx"
    assert run("export_cmdb", str(path), "--model", "rfcs")[0]
    ok, out, err = run("import_cmdb", str(path), "--model", "rfcs")
    assert ok and out.splitlines()[-1] == "Imported: 0 new, 0 updated, 1 unchanged.", err

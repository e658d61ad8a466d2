"""RFCs raised before ``ChangeRequest.raised_by`` existed were raised by their
requesters as far as anyone can tell: the migration says so, and segregation
of duties then treats them as before."""
import pytest

from tests.helpers import migrate_to

# Schema changes and rows in one transaction trip PostgreSQL's deferred
# foreign-key checks ("pending trigger events"): each step commits here.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("changes", "0002_problems")]
AFTER = [("changes", "0003_rfc_raised_by")]


def test_existing_rfcs_are_raised_by_their_requesters(make_user, back_to_the_latest_schema):
    requester = make_user("stakeholder", username="old-requester")
    old = migrate_to(BEFORE)
    OldRfc = old.get_model("changes", "ChangeRequest")
    assert "raised_by" not in {f.name for f in OldRfc._meta.get_fields()}
    rfc_id = OldRfc.objects.create(title="Before", description="Raised long ago.", requester_id=requester.pk).pk

    new = migrate_to(AFTER)

    rfc = new.get_model("changes", "ChangeRequest").objects.get(pk=rfc_id)
    assert rfc.raised_by_id == requester.pk

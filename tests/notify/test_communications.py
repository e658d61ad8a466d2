"""A communication is sent: its chosen audience resolved to addresses, one
email per recipient written to the outbox with the record, delivered by the
relay, and counted by steps 9 and 12 once its messages are in the outbox."""
from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from cmdb.models import ConfigurationItem
from notifications.tasks import deliver_outbox
from releasemgmt.workflow import TransitionBlocked, TransitionForbidden
from releases import services
from releases.models import Communication, OutboxMessage, Team
from tests.helpers import grant, reach

pytestmark = pytest.mark.django_db

NOTICE = {"kind": "stakeholder_notice", "subject": "Orders 2.4 is coming", "body": "Window: Saturday 02:00 UTC."}


@pytest.fixture
def walker(actors, cis):
    """A release at step 9 (plans updated), its scope orders-api and orders-db."""
    return reach(actors, cis, "plans_updated")


def send(walker, by=None, **audience):
    return services.record_add(release_id=walker.release.pk, record_type="communications",
                               by=by or walker.rm, **NOTICE, **audience)


def written(record) -> list[str]:
    ct = ContentType.objects.get_for_model(Communication)
    return sorted(OutboxMessage.objects.filter(content_type=ct, object_id=record.pk).values_list("recipient", flat=True))


# --- the audience, per kind --------------------------------------------------------------------


def test_a_role_reaches_everyone_holding_it(walker, actors, make_user):
    other_cm = make_user("change_manager")
    record = send(walker, roles=["change_manager"])
    assert written(record) == sorted([actors.change_manager.email, other_cm.email])
    assert record.audience == "Roles: Change manager"
    assert [g.name for g in record.roles.all()] == ["change_manager"]


def test_a_team_reaches_its_members_and_its_own_address(walker, make_user):
    member, outsider = make_user("deployment_team"), make_user("deployment_team")
    team = Team.objects.create(name="DBA", email="dba@example.test")
    team.members.add(member)
    record = send(walker, teams=[team])
    assert written(record) == sorted([member.email, "dba@example.test"])
    assert outsider.email not in written(record)


def test_a_vendor_reaches_its_people_and_queue_and_no_other_vendors(walker, make_user, make_vendor):
    acme, globex = make_vendor("Acme", email="queue@acme.test"), make_vendor("Globex", email="queue@globex.test")
    acme_user, globex_user = make_user("vendor"), make_user("vendor")
    acme.users.add(acme_user)
    globex.users.add(globex_user)
    # A Globex engineer who is also in a team that is told: reached through Globex only.
    team = Team.objects.create(name="Network")
    team.members.add(globex_user)
    record = send(walker, vendors=[acme], teams=[team])
    assert written(record) == sorted([acme_user.email, "queue@acme.test"])


def test_the_vendor_role_is_not_an_audience(walker):
    with pytest.raises(ValidationError) as exc:
        send(walker, roles=["vendor"])
    assert "roles" in exc.value.message_dict
    assert not Communication.objects.exists() and not OutboxMessage.objects.filter(event="stakeholder_notice")


def test_the_rfc_requesters_are_reached(walker, actors):
    record = send(walker, rfc_requesters=True)
    requesters = {rfc.requester.email for rfc in walker.release.rfcs.all()}
    assert requesters and written(record) == sorted(requesters)
    assert record.rfc_requesters and not record.ci_stakeholders and record.audience == "RFC requesters"
    assert actors.change_manager.email not in written(record)


def test_the_ci_stakeholders_are_the_owners_of_the_cis_in_scope_and_of_their_dependants(walker, cis, make_user):
    api_owner, dependant_owner, unrelated_owner = make_user("stakeholder"), make_user(), make_user()
    api = cis[0]
    api.owner = api_owner
    api.save()
    ConfigurationItem.objects.create(name="orders-web", owner=dependant_owner).depends_on.add(api)
    ConfigurationItem.objects.create(name="billing", owner=unrelated_owner)
    record = send(walker, ci_stakeholders=True)
    assert written(record) == sorted([api_owner.email, dependant_owner.email])
    assert record.ci_stakeholders and Communication.objects.get().ci_stakeholders


def test_inactive_users_and_users_without_an_address_are_not_recipients(walker, make_user):
    make_user("change_manager", email="")
    make_user("change_manager", is_active=False)
    record = send(walker, roles=["change_manager"])
    assert len(written(record)) == 1


# --- written with the record, or not at all ------------------------------------------------------


def test_an_audience_reaching_nobody_is_refused_naming_it(walker):
    with pytest.raises(ValidationError) as exc:
        send(walker)  # nothing chosen
    assert "audience" in exc.value.message_dict
    team = Team.objects.create(name="Empty")  # nobody in it, no address
    with pytest.raises(ValidationError) as exc:
        send(walker, teams=[team])
    assert "Nobody with an email address" in exc.value.message_dict["audience"][0]
    assert not Communication.objects.exists() and not OutboxMessage.objects.filter(event="stakeholder_notice")


def test_a_communication_by_someone_who_may_not_write_it_sends_nothing(walker, actors):
    with pytest.raises(TransitionForbidden):
        send(walker, by=actors.deployment_team, roles=["stakeholder"])
    assert not Communication.objects.exists() and not OutboxMessage.objects.filter(event="stakeholder_notice")


def test_the_messages_commit_with_the_record_or_not_at_all(walker):
    with pytest.raises(RuntimeError), transaction.atomic():
        send(walker, roles=["stakeholder"])
        assert OutboxMessage.objects.filter(event="stakeholder_notice").exists()  # written in the transaction
        raise RuntimeError("the caller's transaction fails after the record")
    assert not Communication.objects.exists() and not OutboxMessage.objects.filter(event="stakeholder_notice")


def test_the_relay_delivers_one_email_per_recipient_with_text_and_html(
        walker, actors, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        record = send(walker, roles=["stakeholder", "change_manager"])
    expected = sorted([actors.requester.email, actors.change_manager.email])
    sent = [m for m in mail.outbox if m.extra_headers["X-Release-Event"] == "stakeholder_notice"]
    assert sorted(m.to[0] for m in sent) == expected and all(len(m.to) == 1 for m in sent)
    message = sent[0]
    assert message.subject == f"{walker.release.number}: Orders 2.4 is coming"
    assert "Window: Saturday 02:00 UTC." in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "Window: Saturday 02:00 UTC." in html
    assert record.delivery() == {"delivered": 2, "failed": 0, "pending": 0}
    assert deliver_outbox() == 0  # nothing twice


# --- the guards --------------------------------------------------------------------------------


def _prepare(walker):
    return services.release_transition(release_id=walker.release.pk, name="prepare", by=walker.rm)


def test_step_9_counts_a_notice_only_once_its_messages_are_in_the_outbox(walker, actors):
    w = walker
    w.add("environment_readiness", actors.deployment_team, environment="production", ready=True)
    services.release_update(release_id=w.release.pk, by=w.rm, acceptance_criteria="Health checks green.")
    # A notice with a date typed in and nothing written to the outbox (as before) does not count.
    Communication.objects.create(release=w.release, created_by=w.rm, kind="stakeholder_notice", subject="Soon",
                                 audience="stakeholders", sent_at=w.release.created_at)
    with pytest.raises(TransitionBlocked) as exc:
        _prepare(w)
    assert "stakeholders_not_told" in [b.code for b in exc.value.blockers]
    send(w, roles=["stakeholder"])
    assert _prepare(w).state == "ready"


def test_step_12_counts_a_downtime_broadcast_once_its_messages_are_in_the_outbox(actors, cis):
    from tests.test_release_transitions import plan_fields

    w = reach(actors, cis, "tests_passed")
    w.add("plans", w.rm, downtime_expected=True, **plan_fields(w))
    w.to("backed_up")
    Communication.objects.create(release=w.release, created_by=w.rm, kind="downtime_broadcast", subject="Down",
                                 audience="all users", sent_at=w.release.created_at)
    start = {"release_id": w.release.pk, "name": "start_deployment", "by": actors.deployment_team}
    with pytest.raises(TransitionBlocked) as exc:
        services.release_transition(**start)
    assert "downtime_not_broadcast" in [b.code for b in exc.value.blockers]
    w.add("communications", w.rm, kind="downtime_broadcast", subject="Downtime tonight", roles=["stakeholder"])
    assert services.release_transition(**start).state == "deploying"


# --- the entry points ----------------------------------------------------------------------------


def test_the_release_page_form_sends_it_and_shows_recipients_counts_and_the_delivery_log(
        walker, actors, client, django_capture_on_commit_callbacks):
    client.force_login(actors.release_manager)
    url = reverse("releases:record_add", args=[walker.release.pk, "communications"])
    refused = client.post(url, {"communications-kind": "stakeholder_notice", "communications-subject": "Soon"})
    assert refused.status_code == 400
    assert "Audience: Choose who is told" in refused.content.decode()
    assert not OutboxMessage.objects.filter(event="stakeholder_notice").exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"communications-kind": "stakeholder_notice", "communications-subject": "Soon",
                                 "communications-rfc_requesters": "on",
                                 "communications-roles": [str(g.pk) for g in actors.change_manager.groups.all()]})
    assert done.status_code == 302
    record = Communication.objects.get()
    assert written(record) == sorted([actors.requester.email, actors.change_manager.email])
    OutboxMessage.objects.filter(recipient=actors.change_manager.email).update(status="failed", last_error="550")

    page = client.get(reverse("releases:detail", args=[walker.release.pk])).content.decode()
    assert 'data-delivered="1" data-failed="1" data-pending="0"' in page
    assert f"{actors.requester.email} (sent)" in page and f"{actors.change_manager.email} (failed)" in page
    log = page[page.index('id="delivery"'):]
    for address, status in ((actors.requester.email, "Sent"), (actors.change_manager.email, "Failed")):
        row = log[log.index(f'<td data-label="To">{address}</td>'):]
        assert status in row[:row.index("</tr>")]


def test_the_api_takes_the_audience_and_answers_with_the_recipients(
        walker, actors, django_capture_on_commit_callbacks):
    api = APIClient()
    api.force_authenticate(actors.release_manager)
    url = f"/api/releases/{walker.release.pk}/communications/"
    missing = api.post(url, {"kind": "stakeholder_notice", "subject": "Soon"}, format="json")
    assert missing.status_code == 400 and "audience" in missing.json(), missing.json()
    vendor_role = api.post(url, {"kind": "stakeholder_notice", "subject": "Soon", "roles": ["vendor"]}, format="json")
    assert vendor_role.status_code == 400 and "roles" in vendor_role.json()
    assert not OutboxMessage.objects.filter(event="stakeholder_notice").exists()

    # "Sent at" is never entered: it is when the messages were written (a hand-entered one is refused, naming it).
    entered = api.post(url, {"kind": "stakeholder_notice", "subject": "Soon", "roles": ["stakeholder"],
                             "sent_at": "2020-01-01T00:00:00Z"}, format="json")
    assert entered.status_code == 400 and "sent_at" in entered.json()
    with django_capture_on_commit_callbacks(execute=True):
        made = api.post(url, {"kind": "stakeholder_notice", "subject": "Soon", "roles": ["stakeholder"]},
                        format="json")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["roles"] == ["stakeholder"] and body["audience"] == "Roles: Stakeholder"
    assert body["sent_at"] is not None
    listed = api.get(url).json()[0]
    assert listed["recipients"] == [{"address": actors.requester.email, "status": "sent"}]
    assert listed["delivery"] == {"delivered": 1, "failed": 0, "pending": 0}


def test_the_admin_sends_it_too(walker, actors, client):
    rm = grant(actors.release_manager)
    rm.is_staff = True
    rm.save()
    from django.contrib.auth.models import Permission

    rm.user_permissions.add(*Permission.objects.filter(codename__in=["add_communication", "view_communication"]))
    client.force_login(rm)
    stakeholder = rm.groups.model.objects.get(name="stakeholder")
    answer = client.post(reverse("admin:releases_communication_add"), {
        "release": walker.release.pk, "kind": "stakeholder_notice", "subject": "Soon", "body": "",
        "roles": [stakeholder.pk]})
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert written(Communication.objects.get()) == [actors.requester.email]

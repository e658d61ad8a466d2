"""Django admin: every model is there, state only moves by its transitions,
records are written by the services, and nothing audit-worthy is deleted."""
from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import rfc_create, rfc_transition
from cmdb.models import Baseline, ConfigurationItem
from releases import services
from releases.models import RECORD_TYPES, Release, ReleasePlan, SecurityCheck, Task, TransitionLog
from tests.signatures import PASSWORD, signature

pytestmark = pytest.mark.django_db


# --- fixtures (``staff`` and ``make_user`` are in tests/conftest.py) ----------------------


@pytest.fixture
def rm(staff):
    return staff("release_manager")


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")


@pytest.fixture
def authorised_rfc(staff):
    requester, cm = staff("stakeholder"), staff("change_manager")
    rfc = rfc_create(by=requester, title="Faster checkout", description="Cache the basket.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=cm)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=cm, signature=signature())
    return rfc


@pytest.fixture
def release(rm, authorised_rfc):
    now = timezone.now()
    return services.release_create(by=rm, title="Checkout 2.0", release_type="minor", rfcs=[authorised_rfc],
                                   planned_start=now - timedelta(days=1), planned_end=now + timedelta(days=10))


@pytest.fixture
def planning_release(release, rm):
    return services.release_transition(release_id=release.pk, name="start_planning", by=rm)


def add_record(release, by, record_type, **data):
    return services.record_add(release_id=release.pk, record_type=record_type, by=by, **data)


def change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def transition_url(obj, name):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_transition", args=[obj.pk, name])


def split(dt):
    """An admin split date/time widget's two inputs."""
    return {"0": dt.strftime("%Y-%m-%d"), "1": dt.strftime("%H:%M:%S")}


def dt_fields(name, dt):
    return {f"{name}_{k}": v for k, v in split(dt).items()}


INLINE_PREFIXES = ("plans", "votes", "tasks", "scope_items", "baselines")


def management_forms(prefixes=INLINE_PREFIXES):
    data = {}
    for p in prefixes:
        data.update({f"{p}-TOTAL_FORMS": "0", f"{p}-INITIAL_FORMS": "0", f"{p}-MIN_NUM_FORMS": "0",
                     f"{p}-MAX_NUM_FORMS": "0"})
    return data


# --- transitions on the release page --------------------------------------------------------


def test_release_page_offers_start_planning_to_the_release_manager(client, rm, release):
    client.force_login(rm)
    response = client.get(change_url(release))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'action="{transition_url(release, "start_planning")}"' in html
    assert 'name="transition" value="start_planning"' in html
    # cancel needs a reason: it gets a reason input beside its button
    assert 'name="transition" value="cancel"' in html
    assert 'name="reason"' in html
    # the state is shown, never offered as an input
    assert 'name="state"' not in html


def test_posting_start_planning_moves_the_release_and_logs_it(client, rm, release):
    client.force_login(rm)
    response = client.post(transition_url(release, "start_planning"))
    assert response.status_code == 302
    assert response["Location"] == change_url(release)
    release.refresh_from_db()
    assert release.state == "planning"
    log = TransitionLog.objects.get(object_id=release.pk, name="start_planning")
    assert (log.source, log.target, log.by) == ("new", "planning", rm)
    page = client.get(response["Location"])
    assert "Start planning done. It is now “Planning”." in page.content.decode()


def test_a_blocked_transition_leaves_the_state_and_says_what_blocks_it(client, rm, planning_release):
    client.force_login(rm)
    page = client.get(change_url(planning_release)).content.decode()
    assert 'value="submit_plan"' not in page  # no button for a blocked step ...
    assert "No release plan has been written yet." in page  # ... but its blocker, in words

    response = client.post(transition_url(planning_release, "submit_plan"), follow=True)
    assert response.status_code == 200
    planning_release.refresh_from_db()
    assert planning_release.state == "planning"
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert errors and "No release plan has been written yet." in errors[0]
    assert not TransitionLog.objects.filter(object_id=planning_release.pk, name="submit_plan").exists()


def test_a_reason_is_required_where_the_contract_says_so(client, rm, release):
    client.force_login(rm)
    client.post(transition_url(release, "cancel"))
    release.refresh_from_db()
    assert release.state == "new"
    client.post(transition_url(release, "cancel"), {"reason": "Superseded by REL-2"})
    release.refresh_from_db()
    assert release.state == "cancelled"
    assert TransitionLog.objects.get(object_id=release.pk, name="cancel").reason == "Superseded by REL-2"


def test_a_stakeholder_sees_no_button_and_cannot_move_the_release(client, staff, release):
    stakeholder = staff("stakeholder")
    client.force_login(stakeholder)
    response = client.get(change_url(release))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="transition"' not in html
    assert "Only a release manager may perform “Start planning”." in html

    response = client.post(transition_url(release, "start_planning"), follow=True)
    assert response.status_code in (200, 403)
    release.refresh_from_db()
    assert release.state == "new"
    if response.status_code == 200:
        assert any(m.level_tag == "error" for m in response.context["messages"])


def test_a_user_without_view_permission_gets_403(client, staff, release):
    nobody = staff()  # staff, but no role and no permission
    client.force_login(nobody)
    assert client.post(transition_url(release, "start_planning")).status_code == 403
    release.refresh_from_db()
    assert release.state == "new"


def test_the_transition_url_takes_posts_only(client, rm, release):
    client.force_login(rm)
    assert client.get(transition_url(release, "start_planning")).status_code == 405
    release.refresh_from_db()
    assert release.state == "new"


def test_an_unknown_transition_is_an_error_message_not_a_500(client, rm, release):
    client.force_login(rm)
    response = client.post(transition_url(release, "teleport"), follow=True)
    assert response.status_code == 200
    assert any("teleport" in str(m) for m in response.context["messages"])


def test_the_transition_url_is_csrf_protected(rm, release):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(rm)
    assert client.post(transition_url(release, "start_planning")).status_code == 403
    release.refresh_from_db()
    assert release.state == "new"


def test_rfc_and_task_pages_carry_their_transitions(client, staff, rm, release, planning_release):
    cm = staff("change_manager")
    rfc = rfc_create(by=rm, title="Another change", description="Why not.")
    client.force_login(cm)
    assert 'value="assess"' in client.get(change_url(rfc)).content.decode()
    client.post(transition_url(rfc, "assess"))
    rfc.refresh_from_db()
    assert rfc.state == "assessed"

    task = services.task_create(release_id=release.pk, by=rm, title="Deploy", step=12, assignee_user=rm)
    client.force_login(rm)
    page = client.get(change_url(task)).content.decode()
    assert "so its activities cannot start" in page  # start is blocked while the release is planned
    client.post(transition_url(task, "block"), {"reason": "Waiting for the vendor"})
    task.refresh_from_db()
    assert task.state == "blocked"


# --- forms go through the services -----------------------------------------------------------


def test_adding_a_release_goes_through_release_create(client, rm, authorised_rfc):
    client.force_login(rm)
    now = timezone.now()
    data = {"title": "From the admin", "release_type": "minor", "rfcs": [authorised_rfc.pk],
            "release_manager": rm.pk, "description": "", "acceptance_criteria": "",
            **dt_fields("planned_start", now), **dt_fields("planned_end", now + timedelta(days=3))}
    response = client.post(reverse("admin:releases_release_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    release = Release.objects.get(title="From the admin")
    assert release.state == "new"
    assert list(release.rfcs.all()) == [authorised_rfc]
    assert release.history.first().history_user == rm


def test_a_release_needs_an_rfc(client, rm):
    client.force_login(rm)
    response = client.post(reverse("admin:releases_release_add"),
                           {"title": "No RFC", "release_type": "minor", "release_manager": rm.pk})
    assert response.status_code == 200
    assert not Release.objects.filter(title="No RFC").exists()


def test_editing_a_release_goes_through_release_update(client, rm, release):
    client.force_login(rm)
    data = {"title": "Checkout 2.1", "release_type": "minor", "rfcs": [r.pk for r in release.rfcs.all()],
            "description": "", "acceptance_criteria": "Orders go through.",
            **dt_fields("planned_start", release.planned_start), **dt_fields("planned_end", release.planned_end),
            **management_forms()}
    response = client.post(change_url(release), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    release.refresh_from_db()
    assert (release.title, release.state) == ("Checkout 2.1", "new")


def test_a_page_shown_again_rolls_back_what_the_service_wrote(client, rm, release):
    """Without the inlines' management forms the page comes back with an
    error: the edit the service already made must not stay."""
    client.force_login(rm)
    data = {"title": "Never saved", "release_type": "minor", "rfcs": [r.pk for r in release.rfcs.all()],
            **dt_fields("planned_start", release.planned_start), **dt_fields("planned_end", release.planned_end)}
    response = client.post(change_url(release), data)
    assert response.status_code == 200
    release.refresh_from_db()
    assert release.title == "Checkout 2.0"


def test_adding_a_plan_goes_through_record_add(client, rm, planning_release):
    client.force_login(rm)
    r = planning_release
    data = {"release": r.pk, "scope": "Checkout service", "deployment_approach": "Blue/green", "risks": "Low",
            "teams": "Web team", "notes": "",
            **dt_fields("deployment_start", r.planned_start + timedelta(hours=1)),
            **dt_fields("deployment_end", r.planned_end - timedelta(hours=1))}
    response = client.post(reverse("admin:releases_releaseplan_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    plan = ReleasePlan.objects.get(release=r)
    assert (plan.version, plan.created_by, plan.created_in_state) == (1, rm, "planning")

    # ... after which submit_plan is a button, and pressing it works
    page = client.get(change_url(r)).content.decode()
    assert 'value="submit_plan"' in page
    client.post(transition_url(r, "submit_plan"))
    r.refresh_from_db()
    assert r.state == "plan_submitted"


def test_a_record_for_a_step_that_is_not_open_is_refused_as_a_form_error(client, rm, planning_release):
    client.force_login(rm)
    response = client.post(reverse("admin:releases_securitycheck_add"),
                           {"release": planning_release.pk, "passed": "on", "notes": "All good"})
    assert response.status_code == 200
    assert "cannot be written while the release is planning" in response.content.decode()
    assert not SecurityCheck.objects.exists()


def test_a_record_by_a_role_that_may_not_write_it_is_not_offered(client, staff, planning_release):
    tester = staff("test_team")
    client.force_login(tester)
    assert client.get(reverse("admin:releases_releaseplan_add")).status_code == 403


def test_evidence_records_are_read_only(client, rm, planning_release):
    add_record(planning_release, rm, "plans", scope="x")
    plan = ReleasePlan.objects.get()
    client.force_login(rm)
    response = client.get(change_url(plan))
    assert response.status_code == 200
    assert 'name="scope"' not in response.content.decode()  # a view page, not a form
    assert client.post(change_url(plan), {"scope": "changed"}).status_code == 403


def test_adding_an_rfc_goes_through_rfc_create(client, staff):
    requester = staff("stakeholder")
    client.force_login(requester)
    response = client.post(reverse("admin:changes_changerequest_add"),
                           {"title": "New report", "description": "Monthly totals", "change_type": "normal",
                            "risk": "low", "impact": "low"})
    assert response.status_code == 302, response.content.decode()[:3000]
    rfc = ChangeRequest.objects.get(title="New report")
    assert (rfc.requester, rfc.state) == (requester, "submitted")


def test_adding_a_task_goes_through_task_create(client, rm, release):
    client.force_login(rm)
    response = client.post(reverse("admin:releases_task_add"),
                           {"release": release.pk, "title": "Package", "step": "4", "assignee_user": rm.pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    task = Task.objects.get(title="Package")
    assert (task.release, task.state, task.step) == (release, "open", 4)


def test_capturing_a_manual_baseline(client, staff):
    confman = staff("configuration_manager")
    ci = ConfigurationItem.objects.create(name="orders-db", ci_type="database", version="14.1")
    client.force_login(confman)
    response = client.post(reverse("admin:cmdb_baseline_add"),
                           {"name": "Before audit", "kind": "manual", "description": "", "cis": [ci.pk]})
    assert response.status_code == 302, response.content.decode()[:3000]
    baseline = Baseline.objects.get(name="Before audit")
    assert baseline.state == "captured"
    assert baseline.versions() == {ci.pk: "14.1"}


# --- nothing audit-worthy is deleted, history is read-only --------------------------------------


def test_releases_rfcs_records_and_logs_cannot_be_deleted(client, superuser, release):
    client.force_login(superuser)
    services.release_transition(release_id=release.pk, name="start_planning", by=superuser)
    for obj in (release, release.rfcs.first(), TransitionLog.objects.first()):
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])
        assert client.get(url).status_code == 403
        assert client.post(url, {"post": "yes"}).status_code == 403
    assert Release.objects.filter(pk=release.pk).exists()


def test_history_cannot_revert_a_state(client, superuser, release):
    services.release_transition(release_id=release.pk, name="start_planning", by=superuser)
    first = release.history.earliest()
    client.force_login(superuser)
    url = reverse("admin:releases_release_simple_history", args=[release.pk, first.history_id])
    assert client.get(url).status_code == 200
    assert client.post(url, {"title": "Reverted"}).status_code == 403
    release.refresh_from_db()
    assert release.state == "planning"


def test_release_history_page(client, superuser, planning_release):
    client.force_login(superuser)
    response = client.get(reverse("admin:releases_release_history", args=[planning_release.pk]))
    assert response.status_code == 200
    assert "start_planning" in response.content.decode()


# --- every page renders -------------------------------------------------------------------------


@pytest.fixture
def some_of_everything(superuser, planning_release, rm):
    add_record(planning_release, rm, "plans", scope="x")
    ci = ConfigurationItem.objects.create(name="orders-api", version="2.3")
    services.scope_set(release_id=planning_release.pk, ci=ci, target_version="2.4", by=rm)
    services.task_create(release_id=planning_release.pk, by=rm, title="Deploy", step=12)
    from cmdb.services import baseline_capture

    baseline_capture(cis=[ci], name="manual", by=rm)
    return planning_release


def _registered():
    return sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label)


def test_every_changelist_renders_for_a_superuser(client, superuser, some_of_everything):
    client.force_login(superuser)
    for model, _model_admin in _registered():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, (model, response.status_code)
        # and searching and filtering by a number do not break it either
        assert client.get(url, {"q": "REL-1"}).status_code == 200, model


def test_every_add_page_renders_where_adding_is_allowed(client, superuser, rf):
    client.force_login(superuser)
    request = rf.get("/")
    request.user = superuser
    checked = 0
    for model, model_admin in _registered():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        response = client.get(url)
        if model_admin.has_add_permission(request):
            assert response.status_code == 200, (model, response.status_code)
            checked += 1
        else:
            assert response.status_code == 403, model
    assert checked >= 20


def test_every_change_page_renders(client, superuser, some_of_everything):
    client.force_login(superuser)
    for model, _model_admin in _registered():
        obj = model._default_manager.first()
        if obj is None:
            continue
        try:
            url = change_url(obj)
        except NoReverseMatch:  # pragma: no cover
            continue
        assert client.get(url).status_code == 200, model


def test_every_model_of_the_project_is_registered():
    from django.apps import apps

    for app in ("releases", "changes", "cmdb"):
        for model in apps.get_app_config(app).get_models():
            if model._meta.label.split(".")[1].startswith("Historical"):
                continue
            assert admin.site.is_registered(model), model
    assert set(RECORD_TYPES.values()) <= set(admin.site._registry)


def test_the_release_changelist_has_a_bounded_number_of_queries(client, superuser, rm, authorised_rfc,
                                                                 django_assert_max_num_queries):
    for i in range(15):
        services.release_create(by=rm, title=f"R{i}", release_type="minor", rfcs=[authorised_rfc])
    client.force_login(superuser)
    with django_assert_max_num_queries(15):
        assert client.get(reverse("admin:releases_release_changelist")).status_code == 200


def test_state_fields_are_never_form_fields(rf, superuser, some_of_everything):
    from releasemgmt.admin_mixins import state_field_names

    request = rf.get("/")
    request.user = superuser
    checked = 0
    for model, model_admin in _registered():
        names = state_field_names(model)
        if not names:
            continue
        obj = model._default_manager.first()
        for target in (None, obj):
            form = model_admin.get_form(request, target, change=target is not None)
            assert not set(names) & set(form.base_fields), model
            assert set(names) <= set(model_admin.get_readonly_fields(request, target)), model
        checked += 1
    assert checked >= 4  # release, task, RFC, CI, baseline


def test_only_reference_data_can_be_deleted(rf, superuser):
    from releases.models import FreezeWindow, Team, Vendor

    request = rf.get("/")
    request.user = superuser
    deletable = {m for m, ma in admin.site._registry.items() if ma.has_delete_permission(request)}
    project = {m for m in deletable if m._meta.app_label in ("releases", "changes", "cmdb")}
    assert project == {FreezeWindow, Team, Vendor}


def test_tagging_a_release_offers_only_rfcs_that_can_be_released(client, rm, staff, authorised_rfc):
    cm = staff("change_manager")
    rejected = rfc_create(by=rm, title="Rejected idea", description="No.")
    rfc_transition(rfc_id=rejected.pk, name="reject", by=cm, reason="Out of scope", signature=signature())
    client.force_login(rm)
    response = client.get(reverse("admin:autocomplete"),
                          {"app_label": "releases", "model_name": "release", "field_name": "rfcs", "term": ""})
    assert response.status_code == 200
    ids = {int(row["id"]) for row in response.json()["results"]}
    assert authorised_rfc.pk in ids and rejected.pk not in ids


def test_the_vendor_secret_is_write_only(client, superuser, make_vendor):
    vendor = make_vendor("Acme", integration_url="https://acme.example/api", secret="s3cr3t-token")
    client.force_login(superuser)
    page = client.get(change_url(vendor)).content.decode()
    assert "s3cr3t-token" not in page
    response = client.post(change_url(vendor), {"name": "Acme Ltd", "email": "", "integration_url":
                                                "https://acme.example/api"})
    assert response.status_code == 302, response.content.decode()[:2000]
    vendor.refresh_from_db()
    assert (vendor.name, vendor.signing_secret()) == ("Acme Ltd", "s3cr3t-token")


def test_a_vendor_sees_only_its_own_tasks(client, staff, rm, release):
    from releases.models import Vendor

    vendor_user = staff("vendor")
    acme = Vendor.objects.create(name="Acme")
    acme.users.add(vendor_user)
    mine = services.task_create(release_id=release.pk, by=rm, title="Acme patch", step=12, assignee_vendor=acme)
    other = services.task_create(release_id=release.pk, by=rm, title="In-house job", step=12, assignee_user=rm)
    client.force_login(vendor_user)
    page = client.get(reverse("admin:releases_task_changelist")).content.decode()
    assert "Acme patch" in page and "In-house job" not in page
    assert client.get(change_url(other)).status_code == 302  # "does not exist" redirect
    assert client.get(change_url(mine)).status_code == 200


def test_record_changelists_do_not_query_per_row(client, superuser, rm, planning_release,
                                                 django_assert_max_num_queries):
    for i in range(12):
        services.task_create(release_id=planning_release.pk, by=rm, title=f"T{i}", step=12, assignee_user=rm)
        add_record(planning_release, rm, "test_cases", name=f"Case {i}")
    client.force_login(superuser)
    for name in ("task", "testcase", "transitionlog"):
        with django_assert_max_num_queries(12):
            assert client.get(reverse(f"admin:releases_{name}_changelist")).status_code == 200


def test_the_requester_corrects_an_rfc_through_rfc_update_until_it_is_authorised(client, staff, authorised_rfc):
    requester = staff("stakeholder")
    rfc = rfc_create(by=requester, title="Typo in title", description="Fix it.")
    client.force_login(requester)
    data = {"title": "Fixed title", "description": "Fix it.", "change_type": "normal", "risk": "low",
            "impact": "medium"}
    response = client.post(change_url(rfc), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    rfc.refresh_from_db()
    assert (rfc.title, rfc.risk, rfc.requester, rfc.state) == ("Fixed title", "low", requester, "submitted")

    client.force_login(authorised_rfc.requester)
    assert client.post(change_url(authorised_rfc), {**data, "title": "Too late"}).status_code == 403
    authorised_rfc.refresh_from_db()
    assert authorised_rfc.title == "Faster checkout"


def test_a_configuration_manager_registers_and_retires_a_ci(client, staff):
    confman = staff("configuration_manager")
    client.force_login(confman)
    response = client.post(reverse("admin:cmdb_configurationitem_add"),
                           {"name": "billing-api", "ci_type": "application", "version": "1.0", "attributes": "{}"})
    assert response.status_code == 302, response.content.decode()[:2000]
    ci = ConfigurationItem.objects.get(name="billing-api")
    assert ci.status == "live"
    assert 'value="retire"' in client.get(change_url(ci)).content.decode()
    client.post(transition_url(ci, "retire"))
    ci.refresh_from_db()
    assert ci.status == "retired"
    assert TransitionLog.objects.filter(name="retire", object_id=ci.pk).exists()


def test_a_release_manager_may_not_register_cis(client, rm):
    client.force_login(rm)
    assert client.get(reverse("admin:cmdb_configurationitem_add")).status_code == 403


@pytest.fixture
def walked(staff):
    """A release walked to a given state through the real services."""
    from releases.scenario import Actors, Walker, new_release

    actors = Actors(
        release_manager=staff("release_manager"), change_manager=staff("change_manager"),
        cab_members=[staff("cab_member") for _ in range(3)], delivery_manager=staff("delivery_manager"),
        build_team=staff("build_team"), test_team=staff("test_team"), deployment_team=staff("deployment_team"),
        configuration_manager=staff("configuration_manager"), requester=staff("stakeholder"),
        password=PASSWORD,
    )
    ci = ConfigurationItem.objects.create(name="orders-api", ci_type="application", version="2.3")

    def walk(state, release_type="minor"):
        release = new_release(actors, release_type=release_type, cis=[ci])
        return Walker(release, actors).to(state), actors

    return walk


def test_start_deployment_offers_a_freeze_override_reason_and_records_it(client, walked):
    release, actors = walked("backed_up", release_type="emergency")
    client.force_login(actors.deployment_team)
    page = client.get(change_url(release)).content.decode()
    assert 'value="start_deployment"' in page
    assert 'name="freeze_override_reason"' in page
    client.post(transition_url(release, "start_deployment"), {"freeze_override_reason": "Outage fix"})
    release.refresh_from_db()
    assert release.state == "deploying"
    assert release.latest("deployments").freeze_override_reason == "Outage fix"


def test_the_cab_approves_a_plan_from_the_release_page(client, walked):
    release, actors = walked("plan_submitted")
    for member in actors.cab_members[:2]:
        add_record(release, member, "votes", decision="approve", signature=signature())
    # segregation of duties: the release manager sees why approving is not theirs
    client.force_login(actors.release_manager)
    assert "Only a CAB member may perform “Approve plan”." in client.get(change_url(release)).content.decode()
    client.force_login(actors.cab_members[2])
    assert 'value="approve_plan"' in client.get(change_url(release)).content.decode()
    client.post(transition_url(release, "approve_plan"), {"password": PASSWORD})  # it signs the approval
    release.refresh_from_db()
    assert release.state == "plan_approved"


def test_the_release_page_renders_in_every_state_of_the_happy_path(client, superuser, walked):
    release, _ = walked("closed")
    client.force_login(superuser)
    assert client.get(change_url(release)).status_code == 200
    for model in RECORD_TYPES.values():
        obj = model._default_manager.filter(release=release).first()
        if obj is not None:
            assert client.get(change_url(obj)).status_code == 200, model

"""Floor views: for each benchmarked endpoint, the same rows fetched with plain
``.values()`` and returned with ``JsonResponse``, in the same server process.

They are what the endpoint would cost with no framework on top (no DRF, no
serializers, no templates, no guards evaluated in Python): the physical limit
the app is compared with. Each still authenticates the caller with one query
(a token or a session row), as any real endpoint must. The transition floor
does the writes the app's task transition does: the UPDATE, the history row,
the transition log row and its history row, in one transaction.
"""
from datetime import timedelta

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from rest_framework.authtoken.models import Token

from changes.models import ChangeRequest
from releases.models import (
    CabVote, FreezeWindow, Release, ReleasePlan, ReleaseScopeItem, Task, Team, TestCase, TestResult, TransitionLog,
    Vendor,
)
from releases.models.records import RECORD_TYPES

RELEASE_FIELDS = ["id", "title", "description", "release_type", "state", "release_manager_id", "planned_start",
                  "planned_end", "acceptance_criteria", "approved_plan_id", "template_id", "created_at", "updated_at"]
TASK_FIELDS = ["id", "release_id", "title", "description", "step", "assignee_user_id", "assignee_team_id",
               "assignee_vendor_id", "planned_start", "planned_end", "vendor_ticket_ref", "state", "created_at",
               "updated_at"]
ENDED = ("closed", "cancelled")
ACTIVE_TASK = ("open", "in_progress", "blocked")
PAGE = 50


def _user_id(request):
    """One query: the token's user, else the session's."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Token "):
        return Token.objects.filter(key=auth[6:]).values_list("user_id", flat=True).first()
    key = request.COOKIES.get("sessionid")
    if key:
        s = Session.objects.filter(session_key=key, expire_date__gt=timezone.now()).first()
        return s and s.get_decoded().get(SESSION_KEY)
    return None


def authed(view):
    def wrapper(request, *args, **kwargs):
        uid = _user_id(request)
        if uid is None:
            return JsonResponse({"detail": "Authentication required."}, status=401)
        return view(request, int(uid), *args, **kwargs)

    return csrf_exempt(wrapper)


def _rfc_ids(release_ids):
    out = {}
    for rid, cid in Release.rfcs.through.objects.filter(release_id__in=release_ids).values_list(
            "release_id", "changerequest_id"):
        out.setdefault(rid, []).append(cid)
    return out


@authed
def release_list(request, uid):
    qs = Release.objects.all()
    if states := request.GET.getlist("state"):
        qs = qs.filter(state__in=states)
    if typ := request.GET.get("release_type"):
        qs = qs.filter(release_type=typ)
    page = int(request.GET.get("page", "1"))
    count = qs.count()
    rows = list(qs.order_by("-id").values(*RELEASE_FIELDS)[(page - 1) * PAGE: page * PAGE])
    rfcs = _rfc_ids([r["id"] for r in rows])
    for r in rows:
        r["rfcs"] = rfcs.get(r["id"], [])
    return JsonResponse({"count": count, "results": rows})


@authed
def release_detail(request, uid, pk):
    row = Release.objects.filter(pk=pk).values(*RELEASE_FIELDS).first()
    row["rfcs"] = _rfc_ids([pk]).get(pk, [])
    return JsonResponse(row)


@authed
def release_transitions(request, uid, pk):
    """The rows the transition guards read, as the app prefetches them."""
    rel = Release.objects.filter(pk=pk)
    return JsonResponse({
        "release": rel.values(*RELEASE_FIELDS).first(),
        "rfcs": list(ChangeRequest.objects.filter(releases=pk).values("id", "state", "requester_id")),
        "plans": list(ReleasePlan.objects.filter(release=pk).values()),
        "votes": list(CabVote.objects.filter(release=pk).values()),
        "tasks": list(Task.objects.filter(release=pk).values(*TASK_FIELDS)),
        "scope": list(ReleaseScopeItem.objects.filter(release=pk).values("id", "ci_id", "target_version",
                                                                          "ci__name", "ci__version")),
        "test_cases": list(TestCase.objects.filter(release=pk).values()),
        "test_results": list(TestResult.objects.filter(release=pk).values()),
        "roles": list(Token.objects.filter(user_id=uid).values_list("user__groups__name", flat=True)),
    })


@authed
def task_transition(request, uid, pk, name):
    """The writes of the app's block/unblock: lock, UPDATE, history row,
    transition log row and its history row, in one transaction."""
    target = {"block": "blocked", "unblock": "in_progress"}[name]
    now = timezone.now()
    with transaction.atomic():
        source = Task.objects.select_for_update().filter(pk=pk).values_list("state", flat=True).get()
        Task.objects.filter(pk=pk).update(state=target, updated_at=now)
        with connection.cursor() as c:
            c.execute(
                "INSERT INTO releases_historicaltask (id, title, description, step, planned_start, planned_end,"
                " vendor_ticket_ref, state, created_at, updated_at, history_date, history_change_reason,"
                " history_type, assignee_user_id, history_user_id, release_id, assignee_team_id,"
                " assignee_vendor_id, calendar_sequence, escalated_at, reminded_at)"
                " SELECT id, title, description, step, planned_start, planned_end, vendor_ticket_ref, state,"
                " created_at, updated_at, %s, %s, '~', assignee_user_id, %s, release_id, assignee_team_id,"
                " assignee_vendor_id, calendar_sequence, escalated_at, reminded_at FROM releases_task WHERE id = %s",
                [now, name, uid, pk])
            c.execute(
                "INSERT INTO releases_transitionlog (object_id, name, source, target, at, reason, payload, by_id,"
                " content_type_id) SELECT %s, %s, %s, %s, %s, %s, '{}', %s, id FROM django_content_type"
                " WHERE app_label = 'releases' AND model = 'task' RETURNING id",
                [pk, name, source, target, now, request.POST.get("reason", ""), uid])
            log_id = c.fetchone()[0]
            c.execute(
                "INSERT INTO releases_historicaltransitionlog (id, object_id, name, source, target, at, reason,"
                " payload, by_id, content_type_id, history_date, history_type, history_user_id)"
                " SELECT id, object_id, name, source, target, at, reason, payload, by_id, content_type_id, %s, '+',"
                " %s FROM releases_transitionlog WHERE id = %s", [now, uid, log_id])
    return JsonResponse(Task.objects.filter(pk=pk).values(*TASK_FIELDS).first())


@authed
def task_list(request, uid):
    """Keyset pagination on id, like the app's cursor."""
    qs = Task.objects.order_by("-id")
    if before := request.GET.get("before"):
        qs = qs.filter(id__lt=int(before))
    rows = list(qs.values(*TASK_FIELDS)[:PAGE])
    return JsonResponse({"next": rows[-1]["id"] if rows else None, "results": rows})


@authed
def calendar(request, uid):
    start, end = parse_datetime(request.GET["start"]), parse_datetime(request.GET["end"])
    releases = list(Release.objects.filter(planned_start__lte=end, planned_end__gte=start)
                    .exclude(state="cancelled").values("id", "title", "state", "release_type", "planned_start",
                                                       "planned_end", "calendar_sequence"))
    plans = list(ReleasePlan.objects.filter(release__in=[r["id"] for r in releases])
                 .values("release_id", "version", "deployment_start", "deployment_end", "downtime_expected"))
    tasks = list(Task.objects.filter(planned_start__lte=end, planned_end__gte=start)
                 .exclude(state="cancelled").exclude(release__state="cancelled")
                 .values("id", "release_id", "title", "state", "planned_start", "planned_end", "calendar_sequence",
                         "assignee_user__username", "assignee_team__name", "assignee_vendor__name"))
    freezes = list(FreezeWindow.objects.filter(start__lte=end, end__gte=start).values())
    return JsonResponse({"releases": releases, "plans": plans, "tasks": tasks, "freezes": freezes})


@authed
def dashboard(request, uid):
    """The rows the dashboard shows a release manager, bounded as the app
    bounds them (50 of their releases and the total, the next 20 deployment
    windows of the latest plan versions), in the app's query shapes: the
    user's teams and vendors by id rather than joined (the CAB, Go and
    role queues, empty for the benchmark's user, are left out)."""
    now = timezone.now()
    teams = list(Team.members.through.objects.filter(user_id=uid).values_list("team_id", flat=True))
    vendors = list(Vendor.users.through.objects.filter(user_id=uid).values_list("vendor_id", flat=True))
    mine = (Task.objects.filter(state__in=ACTIVE_TASK)
            .filter(Q(assignee_user_id=uid) | Q(assignee_team_id__in=teams) | Q(assignee_vendor_id__in=vendors))
            .order_by("planned_end", "pk").values(*TASK_FIELDS, "release__title")[:50])
    releases = Release.objects.exclude(state__in=ENDED).filter(release_manager_id=uid)
    shown = list(releases.order_by("planned_start", "pk").values(*RELEASE_FIELDS, "release_manager__username")[:50])
    newest = ReleasePlan.objects.filter(release=OuterRef("release")).order_by("-version").values("version")[:1]
    return JsonResponse({
        "roles": list(Group.objects.filter(user=uid).values_list("name", flat=True)),
        "my_tasks": list(mine),
        "releases": shown,
        "releases_total": releases.count() if len(shown) == 50 else len(shown),
        "deployments": list(ReleasePlan.objects.filter(deployment_end__gte=now,
                                                       deployment_start__lte=now + timedelta(days=30),
                                                       version=Subquery(newest))
                            .exclude(release__state__in=ENDED)
                            .filter(release__state__in=NOT_YET_DEPLOYING).order_by("deployment_start", "pk")
                            .values("id", "release_id", "version", "deployment_start", "deployment_end",
                                    "release__title", "release__state")[:20]),
        "freezes": list(FreezeWindow.objects.filter(end__gte=now, start__lte=now + timedelta(days=60))
                        .order_by("start").values()[:20]),
        "overdue_tasks": list(Task.objects.filter(planned_end__lt=now, state__in=ACTIVE_TASK)
                              .exclude(release__state__in=ENDED).order_by("planned_end")
                              .values(*TASK_FIELDS, "release__title")[:20]),
        "overdue_releases": list(Release.objects.filter(planned_end__lt=now)
                                 .exclude(state__in=ENDED + ("succeeded",)).order_by("planned_end")
                                 .values(*RELEASE_FIELDS)[:20]),
    })


@authed
def release_page(request, uid, pk):
    """Every row the release page reads: the release, its RFCs, scope, tasks,
    baselines, each kind of step record, the transition log and the first
    history row."""
    from cmdb.models import Baseline

    out = {"release": Release.objects.filter(pk=pk).values(*RELEASE_FIELDS, "release_manager__username").first(),
           "rfcs": list(ChangeRequest.objects.filter(releases=pk).values("id", "title", "state",
                                                                         "requester__username")),
           "scope": list(ReleaseScopeItem.objects.filter(release=pk).values("id", "ci_id", "target_version",
                                                                            "ci__name", "ci__version")),
           "tasks": list(Task.objects.filter(release=pk).values(*TASK_FIELDS)),
           "baselines": list(Baseline.objects.filter(release=pk).values()),
           "log": list(TransitionLog.objects.filter(content_type__model="release", content_type__app_label="releases",
                                                    object_id=pk).order_by("at", "id")
                       .values("name", "source", "target", "at", "reason", "by__username")),
           "created": Release.history.filter(id=pk).order_by("history_date", "history_id")
           .values("history_date", "history_user__username").first()}
    for name, model in RECORD_TYPES.items():
        out[name] = list(model.objects.filter(release=pk).values())
    return JsonResponse(out)


def _gate_user_id(request):
    """One query: the gate token's service account (active, not revoked)."""
    from pipelines.models import PipelineToken, digest

    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return (PipelineToken.objects.filter(key_digest=digest(auth[7:]), revoked_at__isnull=True, user__is_active=True)
            .values_list("user_id", flat=True).first())


def gate(request):
    """The rows the gate reads to answer: the release (by number, or the
    newest open one deploying the CI's version), its scope, its latest Go
    decision, backup and plan, and the freeze windows and other releases on
    its CIs from now to the plan's end."""
    from releases.models import Backup, GoNoGoDecision

    if _gate_user_id(request) is None:
        return JsonResponse({"detail": "Authentication required."}, status=401)
    number = request.GET.get("release")
    if number:
        release = Release.objects.filter(pk=int(number.upper().removeprefix("REL-"))).values(*RELEASE_FIELDS).first()
    else:
        release = (Release.objects.filter(scope_items__ci__name=request.GET.get("ci", ""),
                                          scope_items__target_version=request.GET.get("version", ""))
                   .exclude(state__in=ENDED).order_by("-pk").values(*RELEASE_FIELDS).first())
    if release is None:
        return JsonResponse({"decision": "prevented", "release": None})
    pk, now = release["id"], timezone.now()
    cis = list(ReleaseScopeItem.objects.filter(release=pk).values_list("ci_id", flat=True))
    plan = ReleasePlan.objects.filter(release=pk).order_by("-created_at", "-id").values().first()
    end = max(now + timedelta(minutes=1), plan["deployment_end"] if plan and plan["deployment_end"] else now)
    return JsonResponse({
        "release": release, "cis": cis, "plan": plan,
        "go": GoNoGoDecision.objects.filter(release=pk).order_by("-created_at", "-id").values().first(),
        "backup": Backup.objects.filter(release=pk).order_by("-created_at", "-id").values().first(),
        "freezes": list(FreezeWindow.objects.filter(Q(cis__in=cis) | Q(cis__isnull=True), start__lt=end,
                                                    end__gt=now).values("id", "name").distinct()),
        "others": list(ReleaseScopeItem.objects.filter(ci__in=cis, release__planned_start__lt=end,
                                                       release__planned_end__gt=now,
                                                       release__state__in=("scheduled", "go", "backed_up",
                                                                           "deploying"))
                       .exclude(release=pk).values("release_id", "ci_id")[:50]),
    })


NOT_YET_DEPLOYING = ("new", "planning", "plan_submitted", "plan_approved", "scheduled", "packaging", "building",
                     "built", "testing", "tests_passed", "plans_updated", "ready", "go", "backed_up")

urlpatterns = [
    path("releases/", release_list),
    path("releases/<int:pk>/", release_detail),
    path("releases/<int:pk>/transitions/", release_transitions),
    path("tasks/", task_list),
    path("tasks/<int:pk>/transitions/<str:name>/", task_transition),
    path("calendar/", calendar),
    path("dashboard/", dashboard),
    path("release-page/<int:pk>/", release_page),
    path("gate/", gate),
]

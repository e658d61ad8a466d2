"""What a calendar shows: the filters shared by the pages and the feeds.

By default a calendar shows what is still to happen: closed, rolled-back and
cancelled releases and finished (done or cancelled) tasks are left out unless
``finished`` is asked for. The other filters narrow it to the user's own
releases (``mine``: those they manage or have a task in), their teams'
(``teams``), one configuration item's (``ci``) or one release type's.

The filters are read from a query string (the pages' GET form and the feeds'
parameters), so a filtered view is an address that can be bookmarked or
subscribed to, and they become ``Exists`` conditions rather than joins, so no
filter multiplies rows or needs DISTINCT.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.db.models import Exists, OuterRef, Q

from cmdb.models import ConfigurationItem
from releases.choices import ReleaseState, ReleaseType, TaskState
from releases.models import ReleaseScopeItem, Task, Team, Vendor

# Releases that are over, whatever their outcome: hidden unless asked for.
FINISHED_RELEASE_STATES = (ReleaseState.CLOSED, ReleaseState.ROLLED_BACK, ReleaseState.CANCELLED)
FINISHED_TASK_STATES = (TaskState.DONE, TaskState.CANCELLED)

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class CalendarFilters:
    """The filters of one calendar view or feed. ``user`` is whose "mine"
    and "my teams" they are (the viewer, or a private feed's owner)."""

    user: object = None
    mine: bool = False
    teams: bool = False
    ci: ConfigurationItem | None = None
    release_type: str = ""
    finished: bool = False

    def key(self) -> tuple:
        """Everything that selects the content, for a cache key: whose
        "mine" and "teams" too, as two users' are not the same feed."""
        whose = getattr(self.user, "pk", None) if self.mine or self.teams else None
        return ("mine" if self.mine else "", "teams" if self.teams else "", whose, getattr(self.ci, "pk", None),
                self.release_type, "finished" if self.finished else "")

    def query(self) -> dict[str, str]:
        """The filters as query parameters (only those set), for links."""
        out = {}
        if self.mine:
            out["mine"] = "1"
        if self.teams:
            out["teams"] = "1"
        if self.ci is not None:
            out["ci"] = self.ci.name
        if self.release_type:
            out["type"] = self.release_type
        if self.finished:
            out["finished"] = "1"
        return out

    def querystring(self) -> str:
        return urlencode(self.query())

    def feed_querystring(self) -> str:
        """The same filters as the feeds take them (a CI by its id)."""
        query = self.query()
        if self.ci is not None:
            query["ci"] = str(self.ci.pk)
        return urlencode(query)

    @property
    def narrowed(self) -> bool:
        return bool(self.mine or self.teams or self.ci is not None or self.release_type)

    def releases(self, prefix: str = "") -> Q:
        """The condition on a release, or on a row reached from its release
        through ``prefix`` (``"release__"`` for plans and tasks)."""
        outer = OuterRef(f"{prefix}pk" if prefix else "pk")
        q = Q()
        if not self.finished:
            q &= ~Q(**{f"{prefix}state__in": FINISHED_RELEASE_STATES})
        if self.release_type:
            q &= Q(**{f"{prefix}release_type": self.release_type})
        if self.ci is not None:
            q &= Exists(ReleaseScopeItem.objects.filter(release=outer, ci=self.ci))
        if self.mine:
            q &= Q(**{f"{prefix}release_manager": self.user}) | Exists(
                Task.objects.filter(_assigned_to(self.user), release=outer))
        if self.teams:
            q &= Exists(Task.objects.filter(_in_teams_of(self.user), release=outer))
        return q

    def tasks(self) -> Q:
        """The condition on a task: its release passes the release filters
        but for mine and teams, which pick the task itself (assigned to the
        user or in a release they manage; assigned to one of their teams)."""
        q = CalendarFilters(ci=self.ci, release_type=self.release_type, finished=self.finished).releases("release__")
        if not self.finished:
            q &= ~Q(state__in=FINISHED_TASK_STATES)
        if self.mine:
            q &= _assigned_to(self.user) | Q(release__release_manager=self.user)
        if self.teams:
            q &= _in_teams_of(self.user)
        return q


def _assigned_to(user) -> Q:
    """A task assigned to the user in person or to a vendor they work for."""
    # Subqueries, not joins: a join through a vendor's users under an OR
    # would repeat a task once per user of its vendor.
    return Q(assignee_user=user) | Q(assignee_vendor__in=Vendor.objects.filter(users=user).values("pk"))


def _in_teams_of(user) -> Q:
    return Q(assignee_team__in=Team.objects.filter(members=user).values("pk"))


def parse_bool(params, name: str) -> bool:
    """A yes/no parameter; raises ValueError with the reason otherwise."""
    raw = (params.get(name) or "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise ValueError(f"Give 1 or 0 (true or false), not {raw[:40]!r}.")


class CalendarFilterForm(forms.Form):
    """The calendar page's filters, sent by GET: the address is the view."""

    mine = forms.BooleanField(required=False, label="Mine",
                              help_text="Releases I manage or have tasks in")
    teams = forms.BooleanField(required=False, label="My teams")
    ci = forms.CharField(required=False, max_length=200, label="Configuration item",
                         widget=forms.TextInput(attrs={"placeholder": "CI name", "autocomplete": "off"}))
    type = forms.ChoiceField(required=False, label="Release type",
                             choices=[("", "Any type"), *ReleaseType.choices])
    finished = forms.BooleanField(required=False, label="Include finished",
                                  help_text="Closed, rolled-back and cancelled releases, done tasks")

    def __init__(self, data, *, user):
        # Only the filter fields of the query string: view, date and page are the page's own.
        super().__init__({k: data.get(k) for k in self.base_fields if k in data}, auto_id="cal-f-%s")
        self.user = user

    def clean_ci(self):
        name = self.cleaned_data["ci"].strip()
        if not name:
            return None
        ci = ConfigurationItem.objects.restrict(self.user).filter(name__iexact=name).first()
        if ci is None:
            raise forms.ValidationError(f"No configuration item is named {name!r}.")
        return ci

    def filters(self) -> CalendarFilters:
        """The valid filters (call after ``is_valid``); a field in error is left unset."""
        data = getattr(self, "cleaned_data", {})
        return CalendarFilters(user=self.user, mine=bool(data.get("mine")), teams=bool(data.get("teams")),
                               ci=data.get("ci"), release_type=data.get("type") or "",
                               finished=bool(data.get("finished")))

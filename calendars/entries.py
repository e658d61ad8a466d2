"""The release calendar: planned windows, deployment windows, task dates and
freeze windows, as entries (for the API and the UI) and as iCalendar.

Every entry has a stable UID and a SEQUENCE that rises with each reschedule,
so subscribed calendars update the event instead of adding a new one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from urllib.parse import urlparse

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from releases.choices import ReleaseState, ReleaseType
from releases.models import FreezeWindow, Release, ReleasePlan, Task

from .filters import CalendarFilters

ENDED = ("closed", "cancelled")


@dataclass(frozen=True)
class Entry:
    uid: str
    kind: str  # release_window | deployment_window | task | freeze
    title: str
    start: datetime
    end: datetime
    sequence: int
    url: str
    release: int | None = None
    state: str = ""
    description: str = ""

    def as_dict(self):
        return {"uid": self.uid, "kind": self.kind, "title": self.title, "start": self.start, "end": self.end,
                "sequence": self.sequence, "url": self.url, "release": self.release, "state": self.state}


def _host() -> str:
    return urlparse(settings.SITE_URL).hostname or "releasemgmt"


def _url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def release_entries(release: Release, plans=None, *, host: str | None = None) -> list[Entry]:
    host = host or _host()
    out = []
    link = _url(f"/releases/{release.pk}/")
    if release.planned_start and release.planned_end:
        out.append(Entry(
            uid=f"release-{release.pk}-window@{host}", kind="release_window",
            title=f"{release.number} {release.title} (planned window)", start=release.planned_start,
            end=release.planned_end, sequence=release.calendar_sequence, url=link, release=release.pk,
            state=release.state,
            description=f"{release.get_release_type_display()} release, {release.get_state_display()}.",
        ))
    plans = list(release.plans.all()) if plans is None else plans
    if plans:
        current = max(plans, key=lambda p: p.version)
        if current.deployment_start and current.deployment_end:
            # Each plan version may move the window: its version is the sequence.
            windows = []
            for p in sorted(plans, key=lambda p: p.version):
                if not windows or windows[-1] != (p.deployment_start, p.deployment_end):
                    windows.append((p.deployment_start, p.deployment_end))
            out.append(Entry(
                uid=f"release-{release.pk}-deployment@{host}", kind="deployment_window",
                title=f"{release.number} deployment" + (" (downtime)" if current.downtime_expected else ""),
                start=current.deployment_start, end=current.deployment_end, sequence=len(windows) - 1,
                url=link, release=release.pk, state=release.state, description=current.deployment_approach,
            ))
    return out


# What a task's calendar entry reads, fetched as plain rows: building a Task,
# its Release and assignees as model instances (each running the state
# machine's __init__) cost more than everything else in a large feed.
TASK_ENTRY_FIELDS = ("id", "title", "planned_start", "planned_end", "calendar_sequence", "state", "release_id",
                     "assignee_user__username", "assignee_team__name", "assignee_vendor__name")


def task_entry(row: dict, *, host: str | None = None, site: str | None = None) -> Entry | None:
    """The entry of one task, from a row of ``TASK_ENTRY_FIELDS``. A feed
    passes ``host`` and ``site`` (the SITE_URL without its final slash) once
    for all its tasks: parsing the setting per task was a large share of a
    feed's time."""
    if not (row["planned_start"] and row["planned_end"]):
        return None
    # As Task.assignee_label and Release.number put them.
    if row["assignee_vendor__name"] is not None:
        label = f"vendor: {row['assignee_vendor__name']}"
    elif row["assignee_team__name"] is not None:
        label = f"team: {row['assignee_team__name']}"
    else:
        label = row["assignee_user__username"] or ""
    host = host or _host()
    site = settings.SITE_URL.rstrip("/") if site is None else site
    return Entry(
        uid=f"task-{row['id']}@{host}", kind="task", title=f"REL-{row['release_id']:05d}: {row['title']}",
        start=row["planned_start"], end=row["planned_end"], sequence=row["calendar_sequence"],
        url=f"{site}/releases/{row['release_id']}/", release=row["release_id"], state=row["state"],
        description=label,
    )


def freeze_entry(freeze: FreezeWindow) -> Entry:
    return Entry(uid=f"freeze-{freeze.pk}@{_host()}", kind="freeze", title=f"Change freeze: {freeze.name}",
                 start=freeze.start, end=freeze.end, sequence=freeze.calendar_sequence,
                 url=_url("/calendar/"), description=freeze.reason)


def calendar_window(start=None, end=None) -> tuple[datetime, datetime]:
    """The window a feed covers: by default from 30 days ago to 90 days
    ahead, counted from the start of the current minute so that polls within
    a minute ask for the same feed (calendars.cache)."""
    now = timezone.now().replace(second=0, microsecond=0)
    return start or now - timedelta(days=30), end or now + timedelta(days=90)


def entries(*, viewer, start=None, end=None, team=None, user=None, release=None,
            filters: CalendarFilters | None = None, tasks: bool | None = None) -> list[Entry]:
    """Calendar entries ``viewer`` may see (releasemgmt.authz) overlapping
    [start, end], narrowed by ``filters`` (calendars.filters; without them,
    every release but the cancelled), optionally for one team, user (what
    concerns them: the personal feed) or release.

    Tasks are in a feed that is someone's work: one release's, one team's or
    one user's (``tasks`` left to None); the general feed holds release and
    deployment windows and freezes only: every task of every release made it
    thousands of events no calendar client wants. A fixed number of queries
    whatever the size."""
    start, end = calendar_window(start, end)
    filters = filters or CalendarFilters(finished=True)
    if tasks is None:
        tasks = release is not None or team is not None or user is not None
    releases = Release.objects.restrict(viewer).filter(planned_start__lte=end, planned_end__gte=start) \
        .exclude(state="cancelled").filter(filters.releases())
    freezes = FreezeWindow.objects.restrict(viewer).filter(start__lte=end, end__gte=start)
    if release is not None:
        releases = releases.filter(pk=release.pk)
        freezes = freezes.filter(Q(cis__isnull=True) | Q(cis__release_scope__release=release)).distinct()
    if filters.ci is not None:
        freezes = freezes.filter(Q(cis__isnull=True) | Q(cis=filters.ci)).distinct()
    if team is not None:
        releases = releases.filter(Exists(Task.objects.filter(release=OuterRef("pk"), assignee_team=team)))
    if user is not None:
        releases = releases.filter(_concerns(user))
    out: list[Entry] = []
    host, site = _host(), settings.SITE_URL.rstrip("/")
    out.extend(_release_rows(releases, host, site))
    if tasks:
        rows = Task.objects.restrict(viewer).filter(planned_start__lte=end, planned_end__gte=start) \
            .exclude(state="cancelled").exclude(release__state="cancelled").filter(filters.tasks())
        if release is not None:
            rows = rows.filter(release=release)
        if team is not None:
            rows = rows.filter(assignee_team=team)
        if user is not None:
            rows = rows.filter(Q(pk__in=Task.objects.filter(_task_of(user)).values("pk"))
                               | Q(release__release_manager=user))
        out.extend(e for e in (task_entry(row, host=host, site=site) for row in rows.values(*TASK_ENTRY_FIELDS))
                   if e)
    out.extend(freeze_entry(f) for f in freezes)
    return sorted(out, key=lambda e: (e.start, e.uid))


def _task_of(user) -> Q:
    """A task assigned to the user, one of their teams or their vendor."""
    return Q(assignee_user=user) | Q(assignee_team__members=user) | Q(assignee_vendor__users=user)


def _concerns(user) -> Q:
    """A release that concerns the user: they manage it, requested one of its
    changes, or have a task in it (theirs, their team's, their vendor's)."""
    return (Q(release_manager=user) | Q(pk__in=Release.rfcs.through.objects.filter(changerequest__requester=user)
                                        .values("release_id"))
            | Q(pk__in=Task.objects.filter(_task_of(user)).values("release_id")))


# What a release's calendar entries read, as plain rows (no model instances:
# a release's state machine runs on loading each one).
RELEASE_ENTRY_FIELDS = ("id", "title", "planned_start", "planned_end", "calendar_sequence", "state",
                        "release_type")
PLAN_ENTRY_FIELDS = ("release_id", "version", "deployment_start", "deployment_end", "downtime_expected",
                     "deployment_approach")


def _release_rows(releases, host: str, site: str) -> list[Entry]:
    """The planned and deployment windows of ``releases``, in two queries."""
    rows = list(releases.values(*RELEASE_ENTRY_FIELDS))
    plans: dict[int, list] = {}
    if rows:
        for p in ReleasePlan.objects.filter(release__in=releases).order_by("release_id", "version") \
                .values_list(*PLAN_ENTRY_FIELDS):
            plans.setdefault(p[0], []).append(p)
    states, types = dict(ReleaseState.choices), dict(ReleaseType.choices)
    out = []
    for r in rows:
        pk, link = r["id"], f"{site}/releases/{r['id']}/"
        number = f"REL-{pk:05d}"
        if r["planned_start"] and r["planned_end"]:
            out.append(Entry(
                uid=f"release-{pk}-window@{host}", kind="release_window",
                title=f"{number} {r['title']} (planned window)", start=r["planned_start"], end=r["planned_end"],
                sequence=r["calendar_sequence"], url=link, release=pk, state=r["state"],
                description=f"{types.get(r['release_type'], r['release_type'])} release, "
                            f"{states.get(r['state'], r['state'])}.",
            ))
        versions = plans.get(pk)
        if versions and versions[-1][2] and versions[-1][3]:
            # Each plan version may move the window: the number of windows so far is the sequence.
            moves = sum(1 for a, b in zip(versions, versions[1:]) if (a[2], a[3]) != (b[2], b[3]))
            _, _, d_start, d_end, downtime, approach = versions[-1]
            out.append(Entry(
                uid=f"release-{pk}-deployment@{host}", kind="deployment_window",
                title=f"{number} deployment" + (" (downtime)" if downtime else ""), start=d_start, end=d_end,
                sequence=moves, url=link, release=pk, state=r["state"], description=approach,
            ))
    return out


def _text(value: str) -> str:
    """An iCalendar TEXT value (RFC 5545, 3.3.11): backslash, semicolon,
    comma and newline escaped."""
    return (str(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _utc(value: datetime) -> str:
    return value.astimezone(dt_timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545, 3.1), never inside
    a UTF-8 character."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        parts.append(raw[start:end].decode())
        start, limit = end, 74  # continuation lines begin with a space
    return "\r\n ".join(parts)


def to_ical(items: list[Entry], *, name: str = "Release calendar", method: str | None = None) -> bytes:
    """The entries as an iCalendar (RFC 5545) document.

    Written directly rather than through the icalendar package: building a
    component per event made a large feed slow (property objects, time-zone
    lookups and line folding per value);
    these few fixed properties are simple to write correctly.
    """
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Release and Deployment Management//EN"]
    if method:
        lines.append(f"METHOD:{_text(method)}")
    lines.append(f"X-WR-CALNAME:{_text(name)}")
    stamp = _utc(timezone.now())
    for e in items:
        lines += [
            "BEGIN:VEVENT",
            f"SUMMARY:{_text(e.title)}",
            f"DTSTART:{_utc(e.start)}",
            f"DTEND:{_utc(e.end)}",
            f"DTSTAMP:{stamp}",
            f"UID:{_text(e.uid)}",
            f"SEQUENCE:{int(e.sequence)}",
            f"URL:{e.url}",
        ]
        if e.description:
            lines.append(f"DESCRIPTION:{_text(e.description)}")
        lines += [f"CATEGORIES:{_text(e.kind)}",
                  f"STATUS:{'CANCELLED' if e.state == 'cancelled' else 'CONFIRMED'}",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    # Most lines are short ASCII: test that here rather than call _fold per line.
    return ("\r\n".join(line if len(line) <= 75 and line.isascii() else _fold(line) for line in lines)
            + "\r\n").encode()

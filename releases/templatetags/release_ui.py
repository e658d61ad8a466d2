"""Small helpers the templates of the browser UI share."""
from __future__ import annotations

from datetime import date, datetime

from django import template
from django.db import models
from django.urls import Resolver404, get_script_prefix, get_urlconf, resolve, reverse
from django.utils import timezone
from django.utils.formats import date_format, localize
from django.utils.html import format_html
from django.utils.text import capfirst

from releasemgmt.workflow import ROLE_LABELS, user_label as _user_label, user_roles

register = template.Library()

STATE_TONES = {
    "new": "neutral", "planning": "neutral", "plan_submitted": "wait", "plan_approved": "ok",
    "rolling_back": "bad", "rolled_back": "bad", "failed": "bad", "rejected": "bad", "blocked": "bad",
    "cancelled": "muted", "closed": "muted", "retired": "muted", "archived": "muted",
    "succeeded": "ok", "done": "ok", "authorized": "ok", "reviewed": "ok", "implemented": "ok",
    "go": "ok", "verified": "ok", "captured": "ok", "live": "ok",
    "submitted": "wait", "assessed": "wait", "in_review": "wait", "ready": "wait",
    "approve": "ok", "reject": "bad", "passed": "ok", "no_go": "bad", "sent": "ok", "pending": "wait", "sending": "wait",
    "deploying": "active", "deployed": "active", "in_progress": "active",
}


@register.filter
def tone(state) -> str:
    """A colour family for a state badge."""
    return STATE_TONES.get(str(state), "info")


@register.simple_tag
def state_badge(state, label) -> str:
    """A state's badge (``includes/state.html`` draws it with this tag), for
    lists to write without an include per row."""
    return format_html('<span class="badge tone-{}" data-state="{}">{}</span>', tone(state), localize(state),
                       localize(label or state))


@register.filter
def user_label(user) -> str:
    return _user_label(user)


@register.filter
def has_role(user, role: str) -> bool:
    return role in user_roles(user)


@register.filter
def role_names(user) -> str:
    return ", ".join(ROLE_LABELS.get(r, r).removeprefix("a ").removeprefix("the ") for r in sorted(user_roles(user)))


@register.filter
def when(value) -> str:
    """A date-time as the UI writes it: 2026-05-04 14:30 (local time)."""
    if not value:
        return ""
    # What date_format(value, "Y-m-d H:i") writes, without its format parser:
    # a page calls this for every date it shows (a hundred and more).
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = timezone.localtime(value)
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    return date_format(value, "Y-m-d")


@register.simple_tag
def record_fields(record, names) -> list[tuple[str, object, bool]]:
    """(label, value, is_long_text) for the named fields of a step record."""
    rows = []
    for name in names:
        f = record._meta.get_field(name)
        value = getattr(record, name)
        if f.choices:
            value = getattr(record, f"get_{name}_display")()
        elif isinstance(f, models.BooleanField):
            value = "Yes" if value else "No"
        elif isinstance(f, models.ForeignKey) and value is not None:
            value = getattr(value, "name", None) or str(value)
        elif isinstance(value, datetime):
            value = when(value)
        elif value is None or value == "":
            value = "—"
        long = isinstance(f, models.TextField) and value != "—"
        rows.append((capfirst(f.verbose_name), value, long))
    return rows


_PK_MARK = 2_147_483_647  # an id no route of the project spells out elsewhere in its path
_PK_ROUTES: dict[tuple, tuple[str, str]] = {}


@register.simple_tag
def pk_url(name, pk) -> str:
    """``{% url name pk %}`` for a route whose one argument is an integer id,
    reversed once per route (and script prefix) and the id put in. A reverse
    costs close to 0.1 ms here, and the dashboard links a hundred rows."""
    key = (name, get_script_prefix(), get_urlconf())
    parts = _PK_ROUTES.get(key)
    if parts is None:
        parts = tuple(reverse(name, args=[_PK_MARK]).split(str(_PK_MARK)))
        if len(parts) != 2:  # not a route of one integer id: reverse each time
            return reverse(name, args=[pk])
        _PK_ROUTES[key] = parts
    return f"{parts[0]}{int(pk)}{parts[1]}"


@register.simple_tag
def ical_url() -> str:
    """The iCalendar feed's path, when that feed is served (another part of the project)."""
    for path in ("/calendar.ics",):
        try:
            resolve(path)
        except Resolver404:
            continue
        return path
    return ""


@register.filter
def reads(user) -> bool:
    """Whether the user reads releases, RFCs and the CMDB (not vendor-only)."""
    from releasemgmt.authz import reader

    return reader(user).internal


@register.filter
def thousands(number) -> str:
    """A count with thousands separators: 9,271."""
    return f"{number:,}"


@register.filter
def next_page_size(page) -> int:
    """How many rows a paginator's next page holds (the last may be short)."""
    return min(page.paginator.per_page, page.paginator.count - page.number * page.paginator.per_page)

"""The reports page: how the release process performs, one panel per metric
with a chart, the numbers in a table beside it, its definition, and a CSV
download (served by the API, with the same filters)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from releases.choices import ReleaseType
from releasemgmt.ui import reader_required

from . import charts
from .metrics import MetricsFilterForm, compute

FILTER_KEYS = ("from", "to", "type", "team", "ci", "vendor")
TYPE_LABELS = dict(ReleaseType.choices)


def _pct(value) -> str:
    return "–" if value is None else f"{value:g} %"


def _panel(metric, title, definition, chart, rows, query, headline="", wide=False, header=("Figure", "Value")):
    return {"id": metric.replace("_", "-"), "metric": metric, "title": title, "definition": definition,
            "chart": chart, "header": header, "rows": rows, "headline": headline, "wide": wide,
            "csv": reverse("api-metric-csv", args=[metric]) + (f"?{query}" if query else "")}


def _spread_rows(spread):
    return [("Count", spread["count"]), ("Median", charts.hours_label(spread["median_hours"])),
            ("90th percentile", charts.hours_label(spread["p90_hours"]))]


def _spread_chart(chart_id, spread, title, what):
    bars = [("Median", spread["median_hours"], "bar"), ("90th percentile", spread["p90_hours"], "bar-wait")]
    desc = (f"{what}: {spread['count']} measured; median {charts.hours_label(spread['median_hours'])}, "
            f"90th percentile {charts.hours_label(spread['p90_hours'])}.")
    return charts.bar_list(chart_id, [(label, value, tone) for label, value, tone in bars], title=title, desc=desc,
                           width=380, fmt=charts.hours_label)


def build_panels(m: dict, query: str) -> list[dict]:
    """One panel per metric, in the order the page shows them."""
    return [_frequency_panel(m, query), _failure_panel(m, query), *_spread_panels(m, query),
            _on_time_panel(m, query), _go_panel(m, query), _tasks_panel(m, query), _steps_panel(m, query)]


def _frequency_panel(m, query):
    freq = m["deployment_frequency"]
    weeks = [(f"{w['week']:%d %b}", w["deployed"]) for w in freq["weeks"]]
    return _panel(
        "deployment_frequency", "Deployment frequency",
        "Releases reaching Deployed for the first time, per week (Monday to Sunday, UTC).",
        charts.column_chart("chart-deployment-frequency", weeks, title="Releases deployed per week",
                            desc=f"{freq['deployed']} releases deployed in the period, "
                                 f"{freq['per_week']} a week on average."),
        [(f"Week of {w['week']:%d %b %Y}", w["deployed"]) for w in freq["weeks"]] +
        [("Total", freq["deployed"]), ("Average per week", freq["per_week"])],
        query, headline=f"{freq['per_week']} / week", wide=True, header=("Week", "Deployed"))


def _failure_panel(m, query):
    cfr = m["change_failure_rate"]
    ok = cfr["deployments"] - cfr["failed"]
    return _panel(
        "change_failure_rate", "Change failure rate",
        "Of the releases whose deployment ended in the period (Deployed, or rolled back while deploying), "
        "the share rolled back.",
        charts.donut("chart-cfr", [("Rolled back", cfr["failed"], "ring-bad"), ("Not rolled back", ok, "ring-ok")],
                     title="Change failure rate", centre=_pct(cfr["rate_percent"]),
                     desc=f"{cfr['failed']} of {cfr['deployments']} deployments rolled back."),
        [("Deployments", cfr["deployments"]), ("Rolled back", cfr["failed"]), ("Rate", _pct(cfr["rate_percent"]))],
        query, headline=_pct(cfr["rate_percent"]))


def _spread_panels(m, query):
    ttr, lead, cab = m["time_to_restore"], m["lead_time"], m["cab_cycle_time"]
    return [
        _panel("time_to_restore", "Time to restore",
               "From the start of a rollback (Rolling back) to Rolled back, for restores completed in the period.",
               _spread_chart("chart-ttr", ttr, "Time to restore", "Rollbacks"), _spread_rows(ttr), query,
               headline=charts.hours_label(ttr["median_hours"])),
        _panel("lead_time", "Lead time for changes",
               "From an RFC's submission to the first deployment of the release carrying it; one value per RFC.",
               _spread_chart("chart-lead", lead, "Lead time for changes", "RFCs deployed"), _spread_rows(lead),
               query, headline=charts.hours_label(lead["median_hours"])),
        _panel("cab_cycle_time", "CAB cycle time",
               "From a plan's submission to the CAB's decision on it (approved or rejected), for decisions in the "
               "period.",
               _spread_chart("chart-cab", cab, "CAB cycle time", "CAB decisions"),
               _spread_rows(cab) + [("Approved", cab["approved"]), ("Rejected", cab["rejected"])], query,
               headline=charts.hours_label(cab["median_hours"])),
    ]


def _on_time_panel(m, query):
    on_time = m["on_time"]
    return _panel(
        "on_time", "Deployments on time",
        "Deployments completed in the period that started and finished inside the deployment window of the "
        "release's plan.",
        charts.donut("chart-on-time", [("On time", on_time["on_time"], "ring-ok"),
                                       ("Outside the window", on_time["outside_window"], "ring-bad")],
                     title="Deployments on time", centre=_pct(on_time["rate_percent"]),
                     desc=f"{on_time['on_time']} of {on_time['deployments']} deployments inside their window."),
        [("Deployments", on_time["deployments"]), ("On time", on_time["on_time"]),
         ("Outside the window", on_time["outside_window"]), ("Rate", _pct(on_time["rate_percent"]))],
        query, headline=_pct(on_time["rate_percent"]))


def _go_panel(m, query):
    go = m["go_no_go"]
    return _panel(
        "go_no_go", "Go/No-Go decisions", "Go and No-Go decisions taken in the period (step 10).",
        charts.donut("chart-go", [("Go", go["go"], "ring-ok"), ("No-Go", go["no_go"], "ring-wait")],
                     title="Go/No-Go decisions", centre=f"{go['go']}/{go['no_go']}",
                     desc=f"{go['go']} Go and {go['no_go']} No-Go decisions."),
        [("Go", go["go"]), ("No-Go", go["no_go"]), ("Go share", _pct(go["go_percent"]))], query,
        headline=f"{go['go']} Go · {go['no_go']} No-Go")


def _tasks_panel(m, query):
    tasks = m["tasks"]
    on_time_done = tasks["completed"] - tasks["completed_late"]
    return _panel(
        "tasks", "Release activities",
        "Overdue: open, in progress or blocked at the end of the period and past their planned end. Completed "
        "late: done in the period after their planned end.",
        charts.bar_list("chart-tasks", [("Overdue", tasks["overdue"], "bar-bad"),
                                        ("Completed late", tasks["completed_late"], "bar-wait"),
                                        ("Done on time", on_time_done, "bar-ok")],
                        title="Release activities", width=380,
                        desc=f"{tasks['overdue']} overdue; {tasks['completed']} completed, "
                             f"{tasks['completed_late']} of them late."),
        [("Overdue at the end of the period", tasks["overdue"]), ("Completed", tasks["completed"]),
         ("Completed late", tasks["completed_late"])], query, headline=f"{tasks['overdue']} overdue")


def _steps_panel(m, query):
    rows = m["time_in_step"]
    charts_by_type = []
    for kind, label in TYPE_LABELS.items():
        mine = [r for r in rows if r["release_type"] == kind]
        if mine:
            over = [r["label"] for r in mine if r["median_hours"] > r["target_hours"]]
            charts_by_type.append((label, charts.target_chart(
                f"chart-steps-{kind}", [(r["label"], r["median_hours"], r["target_hours"]) for r in mine],
                title=f"Time in each step, {label.lower()} releases",
                desc=f"Median stay per state against its target; over target: {', '.join(over) or 'none'}.")))
    panel = _panel(
        "time_in_step", "Time in each step against its target",
        "Each stay of a release in a state, from entering to leaving it, for stays that ended in the period, "
        "by release type; the target is the time the reminders allow for that state and type.",
        None, [(TYPE_LABELS[r["release_type"]], f"{r['step']} · {r['label']}", r["count"],
                charts.hours_label(r["median_hours"]), charts.hours_label(r["p90_hours"]),
                charts.hours_label(r["target_hours"]), _pct(r["over_target_percent"])) for r in rows],
        query, wide=True, header=("Type", "Step · state", "Stays", "Median", "90th pct.", "Target", "Over target"))
    panel.update(charts=charts_by_type, stacked=True)
    return panel


@reader_required
def reports_view(request):
    """Process metrics for a period, filterable by type, team, CI and vendor."""
    data = request.GET.copy()
    if not data.get("from") and not data.get("to"):
        # The default period written into the form, so the page says what it shows.
        today = timezone.now().date()
        data["from"], data["to"] = (today - timedelta(days=89)).isoformat(), today.isoformat()
    form = MetricsFilterForm(data, user=request.user)
    context = {"form": form, "panels": [], "period": None}
    if not form.is_valid():
        return render(request, "reports/reports.html", context, status=400)
    filters = form.filters()
    query = urlencode([(k, data[k]) for k in FILTER_KEYS if data.get(k)])
    metrics = compute(filters)
    context.update(panels=build_panels(metrics, query), period=(filters.start, filters.end - timedelta(seconds=1)),
                   json_url=reverse("api-metrics") + (f"?{query}" if query else ""), filters=filters)
    return render(request, "reports/reports.html", context)

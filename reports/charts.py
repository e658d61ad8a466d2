"""Charts drawn on the server as inline SVG: no script, no stylesheet from
elsewhere, and nothing a strict Content-Security-Policy would block (colours
come from classes in ``static/css/reports.css``, never a ``style`` attribute).

Each chart is an image with a ``<title>`` and a ``<desc>`` (``role="img"``,
``aria-labelledby``); the page prints the same numbers in a table beside it,
so the chart is never the only way to read a figure.
"""
from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = 'font-family="system-ui, sans-serif"'


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value is not None else ""


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg class="chart" id="{chart_id}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT}>',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def column_chart(chart_id: str, bars: list[tuple[str, float]], *, title: str, desc: str, unit: str = "",
                 width: int = 560, height: int = 220) -> SafeString:
    """Vertical bars, one per label (e.g. one per week), on a zero-based axis."""
    left, right, top, bottom = 34, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in bars), default=0))
    if all(float(v).is_integer() for _, v in bars):
        top_value = max(4, math.ceil(top_value / 4) * 4)  # counts: whole-number gridlines
    out = _open(chart_id, width, height, title, desc)
    for i in range(5):  # gridlines and axis labels
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{_num(value)}</text>')
    n = max(len(bars), 1)
    slot = plot_w / n
    # at most ~12 labels under the bars, whatever the number of weeks
    every = max(1, math.ceil(n / 12))
    for i, (label, value) in enumerate(bars):
        h = plot_h * max(value, 0) / top_value if top_value else 0
        x = left + i * slot + slot * 0.15
        y = top + plot_h - h
        out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" rx="2">'
                   f'<title>{escape(label)}: {_num(value)}{escape(unit)}</title></rect>')
        if value:
            out.append(f'<text class="value" x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                       f'font-size="11">{_num(value)}</text>')
        if i % every == 0:
            out.append(f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle" font-size="11">{escape(label)}</text>')
    out.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    out.append("</svg>")
    return mark_safe("".join(out))


def bar_list(chart_id: str, bars: list[tuple[str, float | None, str]], *, title: str, desc: str,
             unit: str = "", width: int = 560, fmt=None) -> SafeString:
    """Horizontal bars with their value at the end; each bar is (label, value, tone)
    where tone is a class name: ``bar``, ``bar-ok``, ``bar-bad``, ``bar-wait``."""
    row, left, right = 30, 120, 64
    height = max(len(bars), 1) * row + 8
    top_value = max((v for _, v, _ in bars if v), default=0) or 1
    out = _open(chart_id, width, height, title, desc)
    plot_w = width - left - right
    for i, (label, value, tone) in enumerate(bars):
        y = 4 + i * row
        w = plot_w * max(value or 0, 0) / top_value
        out.append(f'<text class="label" x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="12">'
                   f'{escape(label)}</text>')
        out.append(f'<rect class="track" x="{left}" y="{y + 4}" width="{plot_w}" height="18" rx="3"/>')
        out.append(f'<rect class="{tone}" x="{left}" y="{y + 4}" width="{w:.1f}" height="18" rx="3"/>')
        text = "–" if value is None else fmt(value) if fmt else f"{_num(value)}{unit}"
        out.append(f'<text class="value" x="{left + w + 6:.1f}" y="{y + 17}" font-size="12">{escape(text)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def target_chart(chart_id: str, rows: list[tuple[str, float, float]], *, title: str, desc: str,
                 width: int = 420) -> SafeString:
    """One row per step: the median stay (bar, red when over target) against
    the target (a grey track ending in a tick). Values in hours."""
    row, left, right = 26, 150, 52
    height = max(len(rows), 1) * row + 26
    top_value = max([max(a, t) for _, a, t in rows] or [1]) or 1
    plot_w = width - left - right
    out = _open(chart_id, width, height, title, desc)
    for i, (label, actual, target) in enumerate(rows):
        y = 4 + i * row
        tw, aw = plot_w * target / top_value, plot_w * max(actual, 0) / top_value
        tone = "bar-bad" if actual > target else "bar-ok"
        out.append(f'<text class="label" x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="11.5">'
                   f'{escape(label)}</text>')
        out.append(f'<rect class="track" x="{left}" y="{y + 3}" width="{tw:.1f}" height="18" rx="3"/>')
        out.append(f'<rect class="{tone}" x="{left}" y="{y + 7}" width="{aw:.1f}" height="10" rx="2">'
                   f'<title>{escape(label)}: median {hours_label(actual)}, target {hours_label(target)}</title>'
                   f'</rect>')
        out.append(f'<line class="target" x1="{left + tw:.1f}" x2="{left + tw:.1f}" y1="{y + 1}" y2="{y + 23}"/>')
        out.append(f'<text class="value" x="{left + max(tw, aw) + 6:.1f}" y="{y + 16}" font-size="11">'
                   f'{escape(hours_label(actual))}</text>')
    y = height - 8  # the legend
    out.append(f'<rect class="bar-ok" x="8" y="{y - 9}" width="14" height="8" rx="2"/>'
               f'<text class="axis" x="26" y="{y}" font-size="11">median within target</text>'
               f'<rect class="bar-bad" x="160" y="{y - 9}" width="14" height="8" rx="2"/>'
               f'<text class="axis" x="178" y="{y}" font-size="11">over target</text>'
               f'<line class="target" x1="270" x2="270" y1="{y - 11}" y2="{y + 1}"/>'
               f'<text class="axis" x="276" y="{y}" font-size="11">target</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def donut(chart_id: str, parts: list[tuple[str, int, str]], *, title: str, desc: str, centre: str = "",
          size: int = 160) -> SafeString:
    """Shares of a whole as a ring; parts are (label, count, tone class)."""
    radius, stroke = 56, 22
    circumference = 2 * math.pi * radius
    total = sum(v for _, v, _ in parts)
    c = size / 2
    out = _open(chart_id, size, size, title, desc)
    out.append(f'<circle class="track-ring" cx="{c}" cy="{c}" r="{radius}" fill="none" stroke-width="{stroke}"/>')
    offset = 0.0
    for label, value, tone in parts:
        if not total or not value:
            continue
        length = circumference * value / total
        # drawn from 12 o'clock, clockwise
        out.append(f'<circle class="{tone}" cx="{c}" cy="{c}" r="{radius}" fill="none" stroke-width="{stroke}" '
                   f'stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
                   f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {c} {c})">'
                   f'<title>{escape(label)}: {value}</title></circle>')
        offset += length
    out.append(f'<text class="centre" x="{c}" y="{c + 7}" text-anchor="middle" font-size="20" '
               f'font-weight="700">{escape(centre or "–")}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def hours_label(value: float | None) -> str:
    """A duration in hours as a person reads it: minutes, hours or days."""
    if value is None:
        return "–"
    if value < 1:
        return f"{round(value * 60)} min"
    if value < 48:
        return f"{_num(value)} h"
    return f"{_num(value / 24)} d"

"""Small charts as inline SVG, rendered on the server: no JavaScript, no chart library, no build step.

Charts are drawn left to right (time runs that way in both languages); the page around them may be RTL,
so every SVG carries ``direction="ltr"`` and its labels are isolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# Stages of one agent turn, each measured in ms from the end of the caller's speech.
LATENCY_STAGES: tuple[str, ...] = ("asr", "llm_first_token", "tts_first_audio", "first_frame")


def latency_stage_labels() -> dict[str, str]:
    return {
        "asr": _("Speech recognised"),
        "llm_first_token": _("LLM first token"),
        "tts_first_audio": _("TTS first audio"),
        "first_frame": _("First frame sent"),
    }


@dataclass(frozen=True)
class WaterfallBar:
    stage: str
    label: str
    start_ms: int
    end_ms: int


def waterfall_bars(latency: dict) -> list[WaterfallBar]:
    """Each known stage as a bar from where the previous stage ended to where this one did."""
    labels = latency_stage_labels()
    bars: list[WaterfallBar] = []
    previous = 0
    for stage in LATENCY_STAGES:
        value = latency.get(stage)
        if not isinstance(value, int | float) or value < 0:
            continue
        end = int(value)
        bars.append(WaterfallBar(stage, labels[stage], min(previous, end), end))
        previous = max(previous, end)
    return bars


def latency_waterfall(latency: dict | None) -> SafeString:
    """A waterfall of one turn's latency: end of speech at 0, then ASR, LLM, TTS, first frame sent."""
    bars = waterfall_bars(latency or {})
    if not bars:
        return mark_safe("")
    label_w, plot_w, row_h, top = 130, 260, 16, 4
    total = max(bar.end_ms for bar in bars) or 1
    scale = plot_w / total
    height = top + row_h * len(bars) + 18
    rows = []
    for i, bar in enumerate(bars):
        y = top + i * row_h
        x = label_w + bar.start_ms * scale
        width = max((bar.end_ms - bar.start_ms) * scale, 1.5)
        rows.append(
            format_html(
                '<g class="wf-row wf-{stage}"><title>{label}: {end} ms</title>'
                '<text x="{lx}" y="{ty}" class="wf-label">{label}</text>'
                '<rect x="{x}" y="{ry}" width="{w}" height="{h}" rx="2" class="wf-bar"/>'
                '<text x="{vx}" y="{ty}" class="wf-value">{end}</text></g>',
                stage=bar.stage,
                label=bar.label,
                end=bar.end_ms,
                lx=label_w - 6,
                ty=y + row_h - 4,
                x=f"{x:.1f}",
                ry=y + 2,
                w=f"{width:.1f}",
                h=row_h - 4,
                vx=f"{x + width + 3:.1f}",
            )
        )
    axis_y = top + row_h * len(bars) + 12
    return format_html(
        '<svg class="latency-waterfall" role="img" direction="ltr" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {vw} {vh}" width="{vw}" height="{vh}" aria-label="{aria}">'
        '<line x1="{lw}" y1="{top}" x2="{lw}" y2="{axis}" class="wf-axis"/>{rows}'
        '<text x="{lw}" y="{axis}" class="wf-tick">{zero}</text>'
        '<text x="{end_x}" y="{axis}" class="wf-tick wf-tick-end">{total} ms</text></svg>',
        vw=label_w + plot_w + 48,
        vh=height,
        aria=_("Latency from the end of the caller's speech, in milliseconds"),
        zero=_("end of speech"),
        lw=label_w,
        top=top,
        axis=axis_y,
        rows=mark_safe("".join(rows)),
        end_x=label_w + plot_w,
        total=total,
    )


# -- the dashboard's charts ------------------------------------------------------------------------------------
# Drawn in a fixed coordinate space and scaled to the width of their box (width 100%); below a minimum width
# (dashboard.css) the box scrolls, never the page.
CHART_W, PLOT_H, TOP, BOTTOM = 720, 150, 18, 22
FSI, PDI = "\u2068", "\u2069"  # first-strong isolate: a number or date keeps its order inside Hebrew text


def _n(value: float) -> str:
    """A coordinate with one decimal: enough for a chart, short in the markup."""
    return f"{value:.1f}".removesuffix(".0")


def isolated(value: object) -> str:
    """A number or date inside text of the other direction (SVG <title> and <text> know no <bdi>)."""
    return f"{FSI}{value}{PDI}"


@dataclass(frozen=True)
class Series:
    """One colour of a stacked chart: a key (its CSS class), a label, one value per column."""

    key: str
    label: str
    values: Sequence[int]


def _label_every(columns: int, room: int = 16) -> int:
    """Label one column in so many, so that at most ``room`` labels share the axis."""
    return max(1, -(-columns // room))


def _svg(css: str, aria: str, height: int, body: str) -> SafeString:
    return format_html(
        '<svg class="dash-chart {css}" role="img" direction="ltr" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMidYMid meet" aria-label="{aria}">'
        "<title>{aria}</title>{body}</svg>",
        css=css,
        w=_n(CHART_W),
        h=_n(height),
        aria=aria,
        body=mark_safe(body),
    )


def stacked_day_chart(days: Sequence[date], series: Sequence[Series], aria: str, css: str = "stacked") -> SafeString:
    """Columns per day, oldest on the left, each stacked from its series (bottom first), with the day's total
    above it (when the columns are wide enough to carry it) and its short date below."""
    if not days:
        return mark_safe("")
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    peak = max(totals) or 1
    step = CHART_W / len(days)
    bar_w = max(step * 0.7, 1.0)
    every = _label_every(len(days))
    columns = []
    for i, day in enumerate(days):
        x = i * step + (step - bar_w) / 2
        base: float = TOP + PLOT_H
        rects = []
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = PLOT_H * value / peak
            base -= h
            rects.append(
                format_html(
                    '<rect class="s-{key}" x="{x}" y="{y}" width="{w}" height="{h}"/>',
                    key=s.key,
                    x=_n(x),
                    y=_n(base),
                    w=_n(bar_w),
                    h=_n(h),
                )
            )
        cx = x + bar_w / 2
        labels = []
        if len(days) <= 31:
            labels.append(format_html('<text class="count" x="{}" y="{}">{}</text>', _n(cx), _n(base - 4), totals[i]))
        if i % every == 0:
            labels.append(
                format_html(
                    '<text class="day" x="{}" y="{}">{}</text>', _n(cx), TOP + PLOT_H + 15, day.strftime("%d/%m")
                )
            )
        # "12/05/2030: 7 (answered 4, voicemail 3)": every number isolated from the labels around it.
        shares = ", ".join(f"{s.label} {isolated(s.values[i])}" for s in series if s.values[i])
        title = f"{isolated(date_format(day, 'SHORT_DATE_FORMAT'))}: {isolated(totals[i])}"
        title = f"{title} ({shares})" if shares else title
        columns.append(
            format_html(
                '<g class="col"><title>{}</title>{}{}</g>', title, mark_safe("".join(rects)), mark_safe("".join(labels))
            )
        )
    base_line = format_html('<line class="baseline" x1="0" y1="{y}" x2="{w}" y2="{y}"/>', y=_n(TOP + PLOT_H), w=CHART_W)
    return _svg(css, aria, TOP + PLOT_H + BOTTOM, base_line + "".join(columns))


def latency_day_chart(rows: Sequence[tuple[date, float | None, float | None, int]], aria: str) -> SafeString:
    """Per day, the p95 as a pale column and the p50 as a dark one in front of it, in seconds; a day without
    replies has no column."""
    if not rows:
        return mark_safe("")
    peak = max((p95 or 0 for _, _, p95, _ in rows), default=0) or 1
    step = CHART_W / len(rows)
    bar_w = max(step * 0.7, 1.0)
    every = _label_every(len(rows))
    columns = []
    for i, (day, p50, p95, replies) in enumerate(rows):
        x = i * step + (step - bar_w) / 2
        cx = x + bar_w / 2
        parts = []
        if p95 is not None and p50 is not None:
            h95, h50 = PLOT_H * p95 / peak, PLOT_H * p50 / peak
            parts.append(
                format_html(
                    "<title>{day}: {median} {p50}, {high} {p95} ({n} {replies})</title>"
                    '<rect class="p95" x="{x}" y="{y95}" width="{w}" height="{h95}"/>'
                    '<rect class="p50" x="{x}" y="{y50}" width="{w}" height="{h50}"/>',
                    day=isolated(date_format(day, "SHORT_DATE_FORMAT")),
                    median=_("median"),
                    p50=isolated(seconds(p50)),
                    high=_("95th percentile"),
                    p95=isolated(seconds(p95)),
                    n=isolated(replies),
                    replies=_("replies"),
                    x=_n(x),
                    w=_n(bar_w),
                    y95=_n(TOP + PLOT_H - h95),
                    h95=_n(h95),
                    y50=_n(TOP + PLOT_H - h50),
                    h50=_n(h50),
                )
            )
            if len(rows) <= 31:
                parts.append(
                    format_html(
                        '<text class="count" x="{}" y="{}">{}</text>', _n(cx), _n(TOP + PLOT_H - h95 - 4), seconds(p95)
                    )
                )
        if i % every == 0:
            parts.append(
                format_html(
                    '<text class="day" x="{}" y="{}">{}</text>', _n(cx), TOP + PLOT_H + 15, day.strftime("%d/%m")
                )
            )
        columns.append(format_html('<g class="col">{}</g>', mark_safe("".join(parts))))
    base_line = format_html('<line class="baseline" x1="0" y1="{y}" x2="{w}" y2="{y}"/>', y=_n(TOP + PLOT_H), w=CHART_W)
    return _svg("latency", aria, TOP + PLOT_H + BOTTOM, base_line + "".join(columns))


def seconds(ms: float) -> str:
    """Milliseconds as seconds with two decimals ("0.97"): the unit is in the chart's caption."""
    return f"{ms / 1000:.2f}"


def hour_chart(counts: Sequence[int], aria: str) -> SafeString:
    """Calls by hour of the day, 0 to 23 from left to right, each column with its count and hour."""
    if not counts:
        return mark_safe("")
    peak = max(counts) or 1
    step = CHART_W / len(counts)
    bar_w = step * 0.7
    columns = []
    for hour, count in enumerate(counts):
        x = hour * step + (step - bar_w) / 2
        cx = x + bar_w / 2
        h = PLOT_H * count / peak
        columns.append(
            format_html(
                '<g class="col"><title>{label}: {count}</title>'
                '<rect x="{x}" y="{y}" width="{w}" height="{h}"/>'
                '<text class="count" x="{cx}" y="{ty}">{count_text}</text>'
                '<text class="day" x="{cx}" y="{dy}">{hour}</text></g>',
                label=isolated(f"{hour:02d}:00–{hour:02d}:59"),
                count=isolated(count),
                count_text=count if count else "",
                x=_n(x),
                y=_n(TOP + PLOT_H - h),
                w=_n(bar_w),
                h=_n(h),
                cx=_n(cx),
                ty=_n(TOP + PLOT_H - h - 4),
                dy=_n(TOP + PLOT_H + 15),
                hour=f"{hour:02d}",
            )
        )
    base_line = format_html('<line class="baseline" x1="0" y1="{y}" x2="{w}" y2="{y}"/>', y=_n(TOP + PLOT_H), w=CHART_W)
    return _svg("hours", aria, TOP + PLOT_H + BOTTOM, base_line + "".join(columns))


def funnel_chart(stages: Sequence[tuple[str, str, int]], aria: str, *, rtl: bool = True) -> SafeString:
    """Horizontal bars, one per stage (key, label, count), each as long as its share of the first stage; the
    label and count start where the reading starts (the right in Hebrew) and the bars grow from there."""
    if not stages:
        return mark_safe("")
    first = stages[0][2] or 1
    row_h, label_w, count_w = 34, 150, 110
    plot_w = CHART_W - label_w - count_w
    rows = []
    for i, (key, label, count) in enumerate(stages):
        y = 6 + i * row_h
        w = max(plot_w * count / first, 2 if count else 0)
        share = round(100 * count / stages[0][2]) if stages[0][2] else 0
        if rtl:
            label_x, bar_x, value_x, anchor = CHART_W - 6, CHART_W - label_w - w, CHART_W - label_w - w - 6, "end"
        else:
            label_x, bar_x, value_x, anchor = 6, label_w, label_w + w + 6, "start"
        rows.append(
            format_html(
                '<g class="stage s-{key}"><title>{label}: {count} ({share})</title>'
                '<text class="label" x="{lx}" y="{ty}" text-anchor="{anchor}">{label}</text>'
                '<rect x="{bx}" y="{y}" width="{w}" height="{h}" rx="3"/>'
                '<text class="value" x="{vx}" y="{ty}" text-anchor="{anchor}">{count_text}</text></g>',
                key=key,
                label=label,
                count=isolated(count),
                share=isolated(f"{share}%"),
                count_text=f"{count} · {share}%" if i else str(count),
                lx=_n(label_x),
                ty=_n(y + row_h / 2 + 2),
                anchor=anchor,
                bx=_n(bar_x),
                y=_n(y + 4),
                w=_n(w),
                h=_n(row_h - 12),
                vx=_n(value_x),
            )
        )
    return _svg("funnel", aria, 12 + row_h * len(stages), "".join(rows))

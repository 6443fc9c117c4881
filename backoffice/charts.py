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


def daily_bar_chart(days: Sequence[tuple[date, int]]) -> SafeString:
    """Calls per day as vertical bars, oldest on the left, each with its count and a short date."""
    if not days:
        return mark_safe("")
    bar_w, gap, plot_h, top, bottom = 26, 8, 120, 16, 22
    peak = max((count for _, count in days), default=0) or 1
    width = len(days) * (bar_w + gap) + gap
    height = top + plot_h + bottom

    rows = []
    for index, (day, count) in enumerate(days):
        h = max(round(plot_h * count / peak), 1)
        x = gap + index * (bar_w + gap)
        y = top + plot_h - h
        rows.append(
            format_html(
                '<g class="bar"><title>{label}: {count}</title>'
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2"/>'
                '<text x="{cx}" y="{ty}" class="count">{count}</text>'
                '<text x="{cx}" y="{dy}" class="day">{short}</text></g>',
                label=date_format(day, "SHORT_DATE_FORMAT"),
                count=count,
                x=x,
                y=y,
                w=bar_w,
                h=h,
                cx=x + bar_w // 2,
                ty=y - 3,
                dy=top + plot_h + 14,
                short=day.strftime("%d/%m"),
            )
        )
    bars = mark_safe("".join(rows))
    return format_html(
        '<svg class="daily-bars" role="img" direction="ltr" xmlns="http://www.w3.org/2000/svg" '
        'viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-label="{aria}">'
        '<line x1="0" y1="{base}" x2="{w}" y2="{base}" class="baseline"/>{bars}</svg>',
        w=width,
        h=height,
        aria=_("Calls per day"),
        base=top + plot_h,
        bars=bars,
    )

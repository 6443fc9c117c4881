"""Server-rendered SVG charts."""

from __future__ import annotations

from datetime import date, timedelta

from backoffice.charts import daily_bar_chart, latency_waterfall, waterfall_bars


def test_waterfall_bars_run_from_the_previous_stage_to_this_one():
    bars = waterfall_bars({"asr": 300, "llm_first_token": 700, "tts_first_audio": 950, "first_frame": 980})
    assert [(b.stage, b.start_ms, b.end_ms) for b in bars] == [
        ("asr", 0, 300),
        ("llm_first_token", 300, 700),
        ("tts_first_audio", 700, 950),
        ("first_frame", 950, 980),
    ]


def test_waterfall_skips_missing_or_nonsense_stages():
    bars = waterfall_bars({"asr": 250, "llm_first_token": None, "tts_first_audio": "x", "first_frame": 900})
    assert [(b.stage, b.start_ms, b.end_ms) for b in bars] == [("asr", 0, 250), ("first_frame", 250, 900)]
    assert latency_waterfall({}) == ""
    assert latency_waterfall(None) == ""


def test_waterfall_svg_is_left_to_right_and_labelled():
    svg = str(latency_waterfall({"asr": 300, "first_frame": 1200}))
    assert svg.startswith('<svg class="latency-waterfall"') and 'direction="ltr"' in svg
    assert svg.count('class="wf-bar"') == 2
    assert "1200 ms" in svg


def test_daily_bars_scale_to_the_busiest_day():
    start = date(2030, 1, 1)
    svg = str(daily_bar_chart([(start + timedelta(days=i), n) for i, n in enumerate([0, 5, 10])]))
    assert svg.count("<rect") == 3
    assert 'height="120"' in svg  # the busiest day fills the plot
    assert 'height="60"' in svg
    assert ">10<" in svg and "01/01" in svg

"""Server-rendered SVG charts."""

from __future__ import annotations

from datetime import date

from backoffice.charts import latency_waterfall, waterfall_bars


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


# -- the dashboard's charts ------------------------------------------------------------------------------------
def test_stacked_columns_stack_each_series_and_label_the_total():
    from backoffice.charts import Series, stacked_day_chart

    days = [date(2030, 1, 1), date(2030, 1, 2)]
    svg = str(stacked_day_chart(days, [Series("answered", "ענו", [2, 0]), Series("voicemail", "תא קולי", [2, 0])], "x"))
    assert svg.count('class="s-answered"') == 1 and svg.count('class="s-voicemail"') == 1
    assert 'height="75"' in svg  # each half of the busiest day's 150
    assert ">4<" in svg and "02/01" in svg
    assert "<title>x</title>" in svg and "\u2068" in svg  # titled, numbers isolated in the tooltips


def test_hour_chart_has_24_columns_from_midnight():
    from backoffice.charts import hour_chart

    svg = str(hour_chart([0] * 9 + [3] + [0] * 14, "שעות"))
    assert svg.count('<g class="col">') == 24 and ">00<" in svg and ">23<" in svg and ">3<" in svg


def test_funnel_bars_start_on_the_right_in_hebrew():
    from backoffice.charts import funnel_chart

    svg = str(funnel_chart([("new", "חדש", 4), ("won", "נסגר", 1)], "משפך", rtl=True))
    assert 'text-anchor="end"' in svg and "1 · 25%" in svg


def test_latency_chart_shows_seconds_and_skips_days_without_replies():
    from backoffice.charts import latency_day_chart

    svg = str(latency_day_chart([(date(2030, 1, 1), 900.0, 2500.0, 4), (date(2030, 1, 2), None, None, 0)], "זמן"))
    assert svg.count('class="p50"') == 1 and ">2.50<" in svg

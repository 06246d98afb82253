"""The report's tables from mart rows (pure): scorecard trend arrow, silent streaks, weighted
timeliness, top rules with their descriptions, and the HTML rendering of them."""

from __future__ import annotations

import datetime as dt

from config.quality import QualityConfig
from pipeline.report import compute_tables, render_html

N = [dt.date(2026, 11, 20) + dt.timedelta(days=i) for i in range(6)]
CFG = QualityConfig(trend_nights=3, trend_tolerance=0.02)


def _row(code, night, delivery="delivered", received=100, quarantined=0, lag=(0, None), status="loaded"):
    return {"dataset": "birth_certificates", "facility_code": code, "night": night, "province_code": code[:2],
            "source_kind": "file_drop", "delivery": delivery, "batch_status": status if delivery == "delivered" else None,
            "received": received if delivery == "delivered" else 0, "loaded": received - quarantined,
            "quarantined": quarantined, "flagged": 0, "superseded": 0, "held": 0, "files_received": 1,
            "files_rejected": 0, "volume_anomaly": None, "trailing_median": None, "volume_ratio": None,
            "lag_records": lag[0], "within_deadline_share": lag[1], "quarantine_rate": None, "validity": None}


def test_trend_silent_streak_and_weighted_timeliness():
    rows = []
    for i, night in enumerate(N):
        rows.append(_row("01929", night, quarantined=[20, 20, 20, 2, 2, 2][i], lag=(10, 1.0) if i % 2 else (30, 0.5)))
        rows.append(_row("22015", night, quarantined=[0, 0, 0, 10, 10, 10][i]))
        delivered = i < 3
        rows.append(_row("31011", night, delivery="delivered" if delivered else "silent"))
    rules = [{"dataset": "birth_certificates", "facility_code": "01929", "night": N[-1], "rule_id": "B2",
              "severity": "error", "category": "conformance", "records": 2, "findings": 3, "rate": 0.02}]
    tables = compute_tables(rows, rules, N[-1], {"01929": "A"}, CFG)
    score = {r["facility_code"]: r for r in tables["scorecard"]}
    assert score["01929"]["trend"] == "↑" and score["22015"]["trend"] == "↓"
    assert score["01929"]["on_time"] == round((3 * 10 * 1.0 + 3 * 30 * 0.5) / 120, 4)
    assert score["31011"]["completeness"] == 0.5 and score["31011"]["status_tonight"] == "silent"
    silent = tables["silent_facilities"]
    assert [(s["facility_code"], s["nights_in_a_row"], s["last_delivered"]) for s in silent] == [("31011", 3, N[2])]
    overview = {o["dataset"]: o for o in tables["overview"]}
    assert overview["birth_certificates"]["silent"] == 1 and overview["birth_certificates"]["facilities_expected"] == 3
    top = tables["top_rules"][0]
    assert (top["rule_id"], top["records"], top["facilities"]) == ("B2", 2, 1)
    assert top["rate"] == round(2 / 200, 4) and "Ngày" in top["title_vi"]
    page = render_html(tables, {}, N[-1], 30, CFG, "test")
    assert 'data-dataset="birth_certificates"' in page and "<script" not in page
    assert "31011" in page and "↑" in page


def test_a_national_scorecard_shows_the_weakest_facilities_and_points_to_the_csv(monkeypatch):
    import pipeline.report as report

    monkeypatch.setattr(report, "SCORECARD_ROWS", 2)
    rows = [_row(f"{i:05d}", N[0], quarantined=q) for i, q in enumerate([0, 50, 5, 90])]
    tables = compute_tables(rows, [], N[0], {}, CFG)
    page = render_html(tables, {}, N[0], 30, CFG, "test")
    scorecard = page[page.index('id="scorecard-table"'):page.index('id="top-rules"')]
    assert "00003" in scorecard and "00001" in scorecard  # validity 10 % and 50 %
    assert "00000" not in scorecard and "2 more rows in the CSV" in scorecard
    assert len(tables["scorecard"]) == 4  # the table files keep every facility

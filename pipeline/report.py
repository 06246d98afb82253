"""The nightly data-quality report: one self-contained HTML file per night, plus its tables.

Usage::

    python -m pipeline.report --night 2026-11-23 [--days 30] [--out DIR] [--no-feedback] [--no-data-docs]
                              [--refresh-all]

Steps: bring the staging store to head; refresh the quality mart for the night (and for any
night of the window the pipeline ran on but the mart does not hold yet); read the window's mart
rows; compute the tables; draw the charts as inline SVG; write
``<out>/<night>/quality_report.html`` and every table as CSV (UTF-8 with BOM) and Parquet under
``<out>/<night>/tables/``; then (unless told not to) the facility feedback files
(:mod:`pipeline.feedback`) and the Great Expectations Data Docs of the night. ``<out>`` defaults to
``$S06_DATA_ROOT/reports/quality``.

The HTML loads nothing: CSS is inline, charts are inline SVG whose text is drawn as paths
(matplotlib's SVG backend with ``svg.fonttype = path``), so it opens offline from a file share and
looks the same without any font installed. Why matplotlib: it is the most widely maintained Python
plotting library, its SVG backend needs no browser, JavaScript or network, and drawing glyphs as
paths removes the last external dependency (fonts); pygal's SVG relies on a script URL and CSS fonts
for its interactivity.

Nothing personal: every number comes from the mart (aggregates per dataset, facility, night and
rule); facility names come from the registry; rule texts from ``config/rule_descriptions.yaml``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import io
import logging
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.contracts import available_datasets
from config.quality import QualityConfig, load_quality_config
from config.registry import load_registry
from config.rule_descriptions import describe
from config.settings import Settings, load_settings
from loaders import staging
from loaders.quality import ledger_nights, read_mart, refresh_night, refreshed_nights

log = logging.getLogger(__name__)

DATASET_TITLES = {
    "birth_certificates": ("Giấy chứng sinh", "Birth certificates"),
    "death_notices": ("Giấy báo tử", "Death notices"),
    "driver_health_checks": ("Giấy khám sức khỏe lái xe", "Driver health certificates"),
    "health_workforce": ("Nhân lực y tế", "Health workforce"),
}
REPORT_FILE = "quality_report.html"


@dataclass
class ReportResult:
    """What :func:`build_report` wrote (paths and the night's headline numbers)."""

    night: dt.date
    folder: Path
    html: Path
    tables: dict[str, list[dict[str, Any]]]
    files: list[Path] = field(default_factory=list)
    feedback: list[Path] = field(default_factory=list)
    data_docs: Path | None = None


# ---------------------------------------------------------------------------------- tables


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _weighted_on_time(rows: Iterable[dict[str, Any]]) -> float | None:
    num = den = 0.0
    for r in rows:
        if r["lag_records"] and r["within_deadline_share"] is not None:
            num += r["within_deadline_share"] * r["lag_records"]
            den += r["lag_records"]
    return round(num / den, 4) if den else None


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    received = sum(r["received"] for r in rows)
    quarantined = sum(r["quarantined"] for r in rows)
    return {
        "facilities_expected": len(rows),
        "delivered": sum(1 for r in rows if r["delivery"] == "delivered"),
        "silent": sum(1 for r in rows if r["delivery"] == "silent"),
        "failed": sum(1 for r in rows if r["delivery"] == "failed"),
        "held": sum(1 for r in rows if r["batch_status"] == "held"),
        "received": received,
        "loaded": sum(r["loaded"] for r in rows),
        "quarantined": quarantined,
        "flagged": sum(r["flagged"] for r in rows),
        "files_rejected": sum(r["files_rejected"] for r in rows),
        "volume_anomalies": sum(1 for r in rows if r["volume_anomaly"]),
        "completeness": _ratio(sum(1 for r in rows if r["delivery"] == "delivered"), len(rows)),
        "validity": None if not received else round(1 - quarantined / received, 4),
        "on_time": _weighted_on_time(rows),
    }


def _trend(by_night: dict[dt.date, list[dict[str, Any]]], cfg: QualityConfig) -> tuple[str, float | None]:
    """Validity of the recent nights against the nights before them: (arrow, change)."""
    nights = sorted(n for n, rows in by_night.items() if sum(r["received"] for r in rows))
    k = min(cfg.trend_nights, len(nights) // 2)
    if k < 1:
        return "–", None

    def validity(ns: list[dt.date]) -> float | None:
        rows = [r for n in ns for r in by_night[n]]
        return _totals(rows)["validity"]

    recent, before = validity(nights[-k:]), validity(nights[-2 * k : -k])
    if recent is None or before is None:
        return "–", None
    change = round(recent - before, 4)
    return ("↑" if change > cfg.trend_tolerance else "↓" if change < -cfg.trend_tolerance else "→"), change


def compute_tables(facility_rows: list[dict[str, Any]], rule_rows: list[dict[str, Any]], night: dt.date,
                   names: dict[str, str], cfg: QualityConfig) -> dict[str, list[dict[str, Any]]]:
    """Every table of the report from the window's mart rows (pure; no I/O)."""
    tonight = [r for r in facility_rows if r["night"] == night]
    datasets = sorted({r["dataset"] for r in facility_rows} | {r["dataset"] for r in tonight})
    overview = []
    for ds in datasets:
        rows = [r for r in tonight if r["dataset"] == ds]
        vi, en = DATASET_TITLES.get(ds, (ds, ds))
        overview.append({"dataset": ds, "title_vi": vi, "title_en": en, "night": night, "ran": bool(rows),
                         **_totals(rows)})
    overview.append({"dataset": "all", "title_vi": "Tất cả", "title_en": "All datasets", "night": night,
                     "ran": bool(tonight), **_totals(tonight)})

    by_facility: dict[tuple[str, str], dict[dt.date, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in facility_rows:
        by_facility[(r["dataset"], r["facility_code"])][r["night"]].append(r)
    scorecard = []
    for (ds, code), nights in sorted(by_facility.items()):
        rows = [r for rs in nights.values() for r in rs]
        last = nights.get(night, [None])[0]
        totals = _totals(rows)
        arrow, change = _trend(nights, cfg)
        scorecard.append({
            "dataset": ds, "facility_code": code, "facility_name": names.get(code, ""),
            "province_code": rows[0]["province_code"], "nights": len(nights),
            "nights_delivered": totals["delivered"], "completeness": totals["completeness"],
            "on_time": totals["on_time"], "validity": totals["validity"], "received": totals["received"],
            "quarantined": totals["quarantined"], "flagged": totals["flagged"],
            # delivered batches show their ledger status (loaded / partial / held)
            "status_tonight": ((last["batch_status"] if last["delivery"] == "delivered" else last["delivery"])
                               if last else "not run"),
            "batch_status_tonight": (last["batch_status"] if last else None),
            "volume_tonight": (last["volume_anomaly"] if last else None),
            "trend": arrow, "validity_change": change,
        })

    received_tonight: defaultdict[str, int] = defaultdict(int)
    for r in tonight:
        received_tonight[r["dataset"]] += r["received"]
    rule_totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rule_rows:
        if r["night"] != night:
            continue
        t = rule_totals.setdefault((r["dataset"], r["rule_id"], r["severity"]), {
            "dataset": r["dataset"], "rule_id": r["rule_id"], "severity": r["severity"], "category": r["category"],
            "records": 0, "findings": 0, "facilities": set()})
        t["records"] += r["records"]
        t["findings"] += r["findings"]
        t["facilities"].add(r["facility_code"])
    top_rules = []
    for t in sorted(rule_totals.values(), key=lambda t: (-t["records"], t["dataset"], t["rule_id"], t["severity"])):
        text = describe(t["dataset"], t["rule_id"])
        top_rules.append({
            **{k: t[k] for k in ("dataset", "rule_id", "severity", "category", "records", "findings")},
            "facilities": len(t["facilities"]),
            "rate": _ratio(t["records"], received_tonight[t["dataset"]]) if t["rule_id"] != "FILE" else None,
            "title_vi": text.title_vi, "title_en": text.title_en,
            "description_vi": text.description_vi, "description_en": text.description_en,
        })

    silent = []
    for r in tonight:
        if r["delivery"] == "delivered":
            continue
        history = by_facility[(r["dataset"], r["facility_code"])]
        streak = 0
        for n in sorted(history, reverse=True):
            if history[n][0]["delivery"] == "delivered":
                break
            streak += 1
        delivered_nights = [n for n, rs in history.items() if rs[0]["delivery"] == "delivered"]
        silent.append({
            "dataset": r["dataset"], "facility_code": r["facility_code"], "facility_name": names.get(r["facility_code"], ""),
            "province_code": r["province_code"], "source_kind": r["source_kind"], "delivery": r["delivery"],
            "batch_status": r["batch_status"], "nights_in_a_row": streak,
            "last_delivered": max(delivered_nights) if delivered_nights else None,
            "trailing_median": r["trailing_median"],
        })

    volume = [{
        "dataset": r["dataset"], "facility_code": r["facility_code"], "facility_name": names.get(r["facility_code"], ""),
        "province_code": r["province_code"], "anomaly": r["volume_anomaly"], "received": r["received"],
        "trailing_median": r["trailing_median"], "volume_ratio": r["volume_ratio"],
    } for r in tonight if r["volume_anomaly"]]

    series_dataset = []
    grouped: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
    for r in facility_rows:
        grouped[(r["dataset"], r["night"])].append(r)
    for (ds, n), rows in sorted(grouped.items()):
        t = _totals(rows)
        series_dataset.append({"dataset": ds, "night": n, **{k: t[k] for k in (
            "facilities_expected", "delivered", "silent", "failed", "received", "loaded", "quarantined", "flagged",
            "completeness", "validity", "on_time")}, "held_records": sum(r["held"] for r in rows)})

    series_province = []
    grouped = defaultdict(list)
    for r in facility_rows:
        grouped[(r["province_code"] or "??", r["night"])].append(r)
    for (prov, n), rows in sorted(grouped.items()):
        t = _totals(rows)
        series_province.append({"province_code": prov, "night": n, **{k: t[k] for k in (
            "facilities_expected", "delivered", "received", "quarantined", "completeness", "validity", "on_time")}})

    facility_nights = [{k: v for k, v in r.items() if k != "refreshed_at"} for r in facility_rows]
    return {"overview": overview, "scorecard": scorecard, "top_rules": top_rules, "silent_facilities": silent,
            "volume_anomalies": volume, "series_dataset": series_dataset, "series_province": series_province,
            "facility_nights": facility_nights, "rule_nights": rule_rows}


# ---------------------------------------------------------------------------------- charts


def _svg(fig: Any, salt: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, ids unique per chart)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _pct_axis(ax: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.05)


def draw_charts(tables: dict[str, list[dict[str, Any]]], nights: list[dt.date]) -> dict[str, str]:
    """Inline SVG charts: one per dataset (volume bars + validity/on-time lines), two per province."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    charts: dict[str, str] = {}
    labels = [n.strftime("%d/%m") for n in nights]
    x = list(range(len(nights)))
    for ds in sorted({r["dataset"] for r in tables["series_dataset"]}):
        rows = {r["night"]: r for r in tables["series_dataset"] if r["dataset"] == ds}
        loaded = [rows[n]["loaded"] if n in rows else 0 for n in nights]
        quarantined = [rows[n]["quarantined"] if n in rows else 0 for n in nights]
        held = [rows[n]["held_records"] if n in rows else 0 for n in nights]
        fig, ax = plt.subplots(figsize=(7.2, 2.8))
        ax.bar(x, loaded, color="#2b8a3e", label="loaded / đã nạp")
        ax.bar(x, quarantined, bottom=loaded, color="#e8590c", label="quarantined / cách ly")
        ax.bar(x, held, bottom=[a + b for a, b in zip(loaded, quarantined, strict=True)], color="#adb5bd",
               label="held / giữ lại")
        ax.set_ylabel("records / bản ghi")
        ax2 = ax.twinx()
        validity = [rows[n]["validity"] if n in rows else None for n in nights]
        on_time = [rows[n]["on_time"] if n in rows else None for n in nights]
        ax2.plot(x, [v if v is not None else float("nan") for v in validity], "o-", color="#1864ab",
                 label="validity / hợp lệ")
        ax2.plot(x, [v if v is not None else float("nan") for v in on_time], "s--", color="#862e9c",
                 label="on time / đúng hạn")
        _pct_axis(ax2)
        ax2.spines["top"].set_visible(False)
        step = max(1, len(x) // 10)
        ax.set_xticks(x[::step], labels[::step])
        vi, en = DATASET_TITLES.get(ds, (ds, ds))
        ax.set_title(f"{vi} / {en}", loc="left", fontsize=10)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        fig.legend(handles, [str(h.get_label()) for h in handles], loc="lower center", ncol=5, fontsize=7,
                   frameon=False, bbox_to_anchor=(0.5, -0.08))
        charts[f"dataset_{ds}"] = _svg(fig, f"s06-{ds}")
    provinces = sorted({r["province_code"] for r in tables["series_province"]})
    if provinces:
        for metric, title, cmap, fmt in (
            ("received", "Bản ghi nhận theo tỉnh / Records received by province", "Blues", "{:.0f}"),
            ("validity", "Tỷ lệ hợp lệ theo tỉnh / Validity by province", "RdYlGn", "{:.0%}"),
        ):
            grid = {(r["province_code"], r["night"]): r[metric] for r in tables["series_province"]}
            data = [[grid.get((p, n)) for n in nights] for p in provinces]
            values = [[float("nan") if v is None else float(v) for v in row] for row in data]
            fig, ax = plt.subplots(figsize=(7.2, 0.9 + 0.28 * len(provinces)))
            low, high = (0.5, 1.0) if metric == "validity" else (None, None)
            image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=high)
            ax.set_yticks(range(len(provinces)), provinces)
            step = max(1, len(x) // 10)
            ax.set_xticks(x[::step], labels[::step])
            ax.set_ylabel("province / tỉnh")
            if len(nights) <= 10:
                for i, row in enumerate(data):
                    for j, v in enumerate(row):
                        if v is not None:
                            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7)
            fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
            ax.set_title(title, loc="left", fontsize=10)
            charts[f"province_{metric}"] = _svg(fig, f"s06-province-{metric}")
    return charts


# ---------------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;margin:0;color:#212529;background:#f8f9fa}
header{background:#0b3d91;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.9}
main{padding:8px 28px 40px;max-width:1280px}section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:17px;margin:0 0 10px}h2 small{font-weight:normal;color:#6c757d}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #dee2e6;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f5;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px}
.tile{border:1px solid #dee2e6;border-radius:8px;padding:12px 14px;background:#fff}.tile h3{margin:0 0 6px;font-size:15px}
.tile .big{font-size:28px;font-weight:600}.tile dl{display:grid;grid-template-columns:auto auto;gap:2px 10px;margin:6px 0 0;font-size:13px}
.tile dt{color:#6c757d}.tile dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.good{background:#d3f9d8}.fair{background:#fff3bf}.poor{background:#ffe3e3}.muted{color:#6c757d}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;background:#e9ecef}
.badge.silent,.badge.failed,.badge.held{background:#ffe3e3}.badge.partial{background:#fff3bf}
.badge.delivered,.badge.loaded{background:#d3f9d8}
figure{margin:10px 0}figure svg{max-width:100%;height:auto}figcaption{font-size:12px;color:#6c757d}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:10px}
footer{font-size:12px;color:#6c757d;padding:0 28px 30px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:,}".replace(",", ".") if isinstance(value, int) else _e(value)


def _grade(value: float | None, cfg: QualityConfig) -> str:
    if value is None:
        return ""
    return "good" if value >= cfg.good else "poor" if value < cfg.poor else "fair"


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]], cfg: QualityConfig,
           table_id: str, limit: int | None = None) -> str:
    """columns: (key, header, kind) with kind one of text, num, pct, grade, badge."""
    head = "".join(f"<th>{h}</th>" for _, h, _ in columns)
    body = []
    for r in rows[:limit] if limit else rows:
        cells = []
        for key, _h, kind in columns:
            v = r.get(key)
            if kind == "num":
                cells.append(f'<td class="n">{_num(v)}</td>')
            elif kind == "pct":
                cells.append(f'<td class="n">{_pct(v)}</td>')
            elif kind == "grade":
                cells.append(f'<td class="n {_grade(v, cfg)}">{_pct(v)}</td>')
            elif kind == "badge":
                cells.append(f'<td><span class="badge {_e(v)}">{_e(v)}</span></td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}" class="muted">—</td></tr>')
    more = f'<p class="muted">{len(rows) - limit} more rows in the CSV.</p>' if limit and len(rows) > limit else ""
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


#: Facility rows shown in the HTML scorecard (a national night has thousands: the page shows the
#: weakest, the CSV/Parquet table has every facility).
SCORECARD_ROWS = 300


def _worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scorecard rows in their order when they all fit, else the weakest first."""
    if len(rows) <= SCORECARD_ROWS:
        return rows

    def score(r: dict[str, Any]) -> float:
        values = [v for v in (r["completeness"], r["on_time"], r["validity"]) if v is not None]
        return min(values) if values else -1.0

    return sorted(rows, key=lambda r: (score(r), r["dataset"], r["facility_code"]))


def render_html(tables: dict[str, list[dict[str, Any]]], charts: dict[str, str], night: dt.date, days: int,
                cfg: QualityConfig, environment: str) -> str:
    """The report page (self-contained: inline CSS and SVG, no scripts, no external resources)."""
    tiles = []
    for o in tables["overview"]:
        if o["dataset"] == "all":
            continue
        tiles.append(
            f'<div class="tile" data-dataset="{_e(o["dataset"])}"><h3>{_e(o["title_vi"])} / {_e(o["title_en"])}</h3>'
            f'<div class="big" data-metric="received">{_num(o["received"])}</div>'
            '<div class="muted">bản ghi nhận / records received</div><dl>'
            f'<dt>Hợp lệ / validity</dt><dd class="{_grade(o["validity"], cfg)}" data-metric="validity">{_pct(o["validity"])}</dd>'
            f'<dt>Đúng hạn / on time</dt><dd data-metric="on_time">{_pct(o["on_time"])}</dd>'
            f'<dt>Đã nạp / loaded</dt><dd data-metric="loaded">{_num(o["loaded"])}</dd>'
            f'<dt>Cách ly / quarantined</dt><dd data-metric="quarantined">{_num(o["quarantined"])}</dd>'
            f'<dt>Cảnh báo / flagged</dt><dd data-metric="flagged">{_num(o["flagged"])}</dd>'
            f'<dt>Cơ sở gửi / facilities delivered</dt><dd data-metric="delivered">{o["delivered"]} / {o["facilities_expected"]}</dd>'
            f'<dt>Im lặng / silent</dt><dd data-metric="silent">{o["silent"]}</dd>'
            f'<dt>Tệp bị từ chối / files rejected</dt><dd data-metric="files_rejected">{o["files_rejected"]}</dd>'
            "</dl></div>"
        )
    overview_cols = [
        ("title_en", "Dataset / Nhóm dữ liệu", "text"), ("facilities_expected", "Facilities / Cơ sở", "num"),
        ("delivered", "Delivered / Đã gửi", "num"), ("silent", "Silent / Im lặng", "num"),
        ("failed", "Failed / Lỗi nguồn", "num"), ("held", "Held / Giữ lại", "num"),
        ("received", "Received / Nhận", "num"), ("loaded", "Loaded / Nạp", "num"),
        ("quarantined", "Quarantined / Cách ly", "num"), ("flagged", "Flagged / Cảnh báo", "num"),
        ("files_rejected", "Files rejected / Tệp hỏng", "num"), ("volume_anomalies", "Volume anomalies", "num"),
        ("completeness", "Completeness", "grade"), ("validity", "Validity", "grade"), ("on_time", "On time", "grade"),
    ]
    score_cols = [
        ("dataset", "Dataset", "text"), ("facility_code", "Facility / Cơ sở", "text"),
        ("facility_name", "Name / Tên", "text"), ("province_code", "Prov.", "text"),
        ("completeness", "Completeness / Đầy đủ", "grade"), ("on_time", "Timeliness / Kịp thời", "grade"),
        ("validity", "Validity / Hợp lệ", "grade"), ("trend", "Trend / Xu hướng", "text"),
        ("status_tonight", "Tonight / Đêm nay", "badge"), ("volume_tonight", "Volume", "text"),
        ("received", "Received", "num"),
    ]
    rule_cols = [
        ("dataset", "Dataset", "text"), ("rule_id", "Rule", "text"), ("severity", "Severity", "text"),
        ("records", "Records / Bản ghi", "num"), ("facilities", "Facilities", "num"), ("rate", "Rate", "pct"),
        ("title_vi", "Quy tắc", "text"), ("description_vi", "Mô tả", "text"), ("title_en", "Rule", "text"),
        ("description_en", "Description", "text"),
    ]
    silent_cols = [
        ("dataset", "Dataset", "text"), ("facility_code", "Facility / Cơ sở", "text"), ("facility_name", "Name / Tên", "text"),
        ("province_code", "Prov.", "text"), ("source_kind", "Source", "text"), ("delivery", "Status", "badge"),
        ("nights_in_a_row", "Nights in a row / Số đêm liên tiếp", "num"), ("last_delivered", "Last delivered / Lần gửi gần nhất", "text"),
    ]
    volume_cols = [
        ("dataset", "Dataset", "text"), ("facility_code", "Facility", "text"), ("facility_name", "Name", "text"),
        ("anomaly", "Anomaly / Bất thường", "text"), ("received", "Received", "num"),
        ("trailing_median", "Trailing median / Trung vị", "text"), ("volume_ratio", "Ratio", "text"),
    ]
    chart_html = "".join(
        f'<figure data-chart="{_e(name)}" role="img" aria-label="{_e(name)}">{svg}</figure>'
        for name, svg in charts.items() if name.startswith("dataset_"))
    province_html = "".join(
        f'<figure data-chart="{_e(name)}" role="img" aria-label="{_e(name)}">{svg}</figure>'
        for name, svg in charts.items() if name.startswith("province_"))
    first = night - dt.timedelta(days=days - 1)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Báo cáo chất lượng dữ liệu / Data quality report – {night.isoformat()}</title>
<style>{CSS}</style></head>
<body>
<header><h1 id="report-title">Báo cáo chất lượng dữ liệu Đề án 06 / Scheme 06 data quality report</h1>
<p>Đêm / night <strong id="report-night">{night.isoformat()}</strong> · {days} đêm gần nhất / last {days} nights
({first.isoformat()} – {night.isoformat()}) · môi trường / environment {_e(environment)} · tạo lúc / generated {generated}</p></header>
<main>
<section id="overview"><h2>Tổng quan toàn quốc <small>/ National overview</small></h2>
{_table(tables["overview"], overview_cols, cfg, "overview-table")}</section>
<section id="tiles"><h2>Theo nhóm dữ liệu <small>/ Per dataset, night {night.isoformat()}</small></h2><div class="tiles">{"".join(tiles)}</div></section>
<section id="charts"><h2>{days} đêm gần nhất theo nhóm dữ liệu <small>/ Last {days} nights per dataset</small></h2>
<div class="charts">{chart_html}</div></section>
<section id="scorecard"><h2>Bảng điểm cơ sở <small>/ Facility scorecard ({days} nights)</small></h2>
<p class="muted">Completeness = nights delivered / nights expected; timeliness = records received within the dataset's
deadline; validity = 1 − quarantined / received. Trend compares validity of the most recent nights with the nights before
them (↑ better, ↓ worse, → steady). Green ≥ {cfg.good:.0%}, red &lt; {cfg.poor:.0%}.</p>
{_table(_worst_first(tables["scorecard"]), score_cols, cfg, "scorecard-table", limit=SCORECARD_ROWS)}</section>
<section id="top-rules"><h2>Quy tắc vi phạm nhiều nhất <small>/ Top rules, night {night.isoformat()}</small></h2>
{_table(tables["top_rules"], rule_cols, cfg, "top-rules-table", limit=25)}</section>
<section id="silent"><h2>Cơ sở im lặng hoặc lỗi nguồn <small>/ Silent and failed facilities</small></h2>
<p class="muted">Silent: registered for the dataset, sent nothing this night. Failed: the source could not be read (see the ledger).</p>
{_table(tables["silent_facilities"], silent_cols, cfg, "silent-table")}</section>
<section id="volume"><h2>Khối lượng bất thường <small>/ Volume anomalies</small></h2>
<p class="muted">Received against the facility's own median of the previous {cfg.trailing_nights} nights:
drop below {cfg.drop_ratio:.0%}, spike above {cfg.spike_ratio:.0%} of the median.</p>
{_table(tables["volume_anomalies"], volume_cols, cfg, "volume-table")}</section>
<section id="provinces"><h2>Theo tỉnh <small>/ Per province, last {days} nights</small></h2>
<div class="charts">{province_html}</div></section>
</main>
<footer>Aggregates only: no names, identifiers or record values. Source: quality mart (staging store tables
quality_facility_night, quality_rule_night). The same tables are in tables/*.csv and tables/*.parquet beside this file.</footer>
</body></html>
"""


# ---------------------------------------------------------------------------------- files


def _atomic_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # the report is for operators (mkstemp creates 0600)
    os.replace(tmp, path)


def _csv_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def write_tables(tables: dict[str, list[dict[str, Any]]], folder: Path) -> list[Path]:
    """Each table as ``<name>.csv`` (UTF-8 with BOM, opens in Excel) and ``<name>.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for name, rows in tables.items():
        columns = list(rows[0]) if rows else ["empty"]
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([_csv_value(r.get(c)) for c in columns])
        _atomic_text(folder / f"{name}.csv", buf.getvalue(), encoding="utf-8-sig")
        table = pa.Table.from_pylist(rows) if rows else pa.table({"empty": pa.array([], pa.string())})
        target = folder / f"{name}.parquet"
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
        written += [folder / f"{name}.csv", target]
    return written


def refresh_window(engine: Any, night: dt.date, days: int, settings: Settings, cfg: QualityConfig,
                   datasets: list[str], every_night: bool = False) -> list[tuple[str, dt.date]]:
    """Refresh the night itself and every night of the window the mart lacks but the ledger has
    (``every_night``: all nights of the window, e.g. after a backfill or a threshold change)."""
    first = night - dt.timedelta(days=days - 1)
    have = refreshed_nights(engine, first, night)
    done = []
    for ds in datasets:
        ran = ledger_nights(engine, ds, first, night, settings.timezone)
        for n in sorted(n for n in ran if every_night or n == night or (ds, n) not in have):
            refresh_night(engine, n, [ds], settings, cfg)
            done.append((ds, n))
    return done


def build_report(night: dt.date, days: int = 30, settings: Settings | None = None, out_root: Path | None = None,
                 feedback: bool = True, data_docs: bool = True, datasets: list[str] | None = None,
                 refresh: bool = True, refresh_every_night: bool = False) -> ReportResult:
    """Refresh the mart and write the night's report, tables, feedback files and Data Docs."""
    from expectations.runner import environment_name

    settings = settings or load_settings()
    cfg = load_quality_config()
    datasets = datasets or available_datasets()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, datasets)
    if refresh:
        refresh_window(engine, night, days, settings, cfg, datasets, every_night=refresh_every_night)
    first = night - dt.timedelta(days=days - 1)
    facility_rows, rule_rows = read_mart(engine, first, night)
    facility_rows = [r for r in facility_rows if r["dataset"] in datasets]
    rule_rows = [r for r in rule_rows if r["dataset"] in datasets]
    for rows in (facility_rows, rule_rows):
        for r in rows:
            if not isinstance(r["night"], dt.date):
                r["night"] = dt.date.fromisoformat(str(r["night"]))
    names = {f.code: f.name for f in load_registry(settings.facilities_file)}
    tables = compute_tables(facility_rows, rule_rows, night, names, cfg)
    nights = [first + dt.timedelta(days=i) for i in range(days)]
    ran_nights = sorted({r["night"] for r in facility_rows})
    if ran_nights:  # the chart axis starts at the first night the pipeline ran in the window
        nights = [n for n in nights if n >= ran_nights[0]]
    charts = draw_charts(tables, nights)
    out_root = out_root or settings.data_root / "reports" / "quality"
    folder = out_root / night.isoformat()
    page = render_html(tables, charts, night, days, cfg, environment_name())
    html_path = folder / REPORT_FILE
    _atomic_text(html_path, page)
    files = write_tables(tables, folder / "tables")
    result = ReportResult(night, folder, html_path, tables, files)
    if feedback:
        from pipeline.feedback import write_feedback

        result.feedback = write_feedback(night, settings=settings, engine=engine)
    if data_docs:
        from expectations.runner import build_data_docs

        result.data_docs = build_data_docs(night, datasets)
    log.info("quality report %s: %s", night, html_path)
    return result


# ---------------------------------------------------------------------------------- DAG tasks
# The quality_report DAG's callables: small, personal-data-free return values (night, counts, paths).

REPORT_DAYS = 30


def night_for_run(run_after: dt.datetime | None, requested: str | None = None, settings: Settings | None = None) -> dt.date:
    """The night a run reports: the requested one, else the local day before ``run_after``."""
    from zoneinfo import ZoneInfo

    if requested:
        return dt.date.fromisoformat(requested)
    settings = settings or load_settings()
    when = run_after or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1)


def refresh_task(night: dt.date, days: int = REPORT_DAYS) -> dict[str, Any]:
    """Refresh the mart for the night (and missing nights of the window)."""
    settings = load_settings()
    datasets = available_datasets()
    engine = staging.make_engine(settings.staging_url)
    staging.ensure_schema(engine, datasets)
    done = refresh_window(engine, night, days, settings, load_quality_config(), datasets)
    return {"night": night.isoformat(), "refreshed": len(done)}


def report_task(night: dt.date, days: int = REPORT_DAYS) -> dict[str, Any]:
    """Write the report and its tables from the (already refreshed) mart."""
    result = build_report(night, days, feedback=False, data_docs=False, refresh=False)
    overview = {o["dataset"]: {k: o[k] for k in ("received", "loaded", "quarantined", "silent", "validity")}
                for o in result.tables["overview"]}
    return {"night": night.isoformat(), "html": str(result.html), "overview": overview}


def feedback_task(night: dt.date) -> dict[str, Any]:
    """Write the facility feedback folders of the night (restricted; only counts go to XCom)."""
    from pipeline.feedback import write_feedback

    files = write_feedback(night)
    return {"night": night.isoformat(), "facilities": len({p.parent.parent.name for p in files}), "files": len(files)}


def data_docs_task(night: dt.date) -> dict[str, Any]:
    """Store the night's GX statistics as validation results and rebuild Data Docs."""
    from expectations.runner import build_data_docs

    return {"night": night.isoformat(), "data_docs": str(build_data_docs(night, available_datasets()))}


def default_night(settings: Settings | None = None) -> dt.date:
    """Yesterday in the pipeline's timezone (the last complete night)."""
    from zoneinfo import ZoneInfo

    settings = settings or load_settings()
    return dt.datetime.now(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--night", type=dt.date.fromisoformat, help="local night (default: yesterday)")
    p.add_argument("--days", type=int, default=30, help="nights in the charts and the scorecard (default 30)")
    p.add_argument("--out", type=Path, help="output root (default $S06_DATA_ROOT/reports/quality)")
    p.add_argument("--no-feedback", action="store_true", help="do not write the facility feedback files")
    p.add_argument("--no-data-docs", action="store_true", help="do not rebuild the Great Expectations Data Docs")
    p.add_argument("--refresh-all", action="store_true",
                   help="refresh the mart for every night of the window (after a backfill or a threshold change)")
    args = p.parse_args(argv)
    if args.days < 1:
        p.error("--days must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    night = args.night or default_night()
    result = build_report(night, args.days, out_root=args.out, feedback=not args.no_feedback,
                          data_docs=not args.no_data_docs, refresh_every_night=args.refresh_all)
    print(f"quality report: {result.html}")
    print(f"tables:         {result.folder / 'tables'} ({len(result.files)} files)")
    if result.feedback:
        print(f"feedback:       {len(result.feedback)} file(s) under {load_settings().data_root / 'feedback'} (restricted)")
    if result.data_docs:
        print(f"GX Data Docs:   {result.data_docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["ReportResult", "build_report", "compute_tables", "draw_charts", "main", "render_html"]

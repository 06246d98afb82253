"""Run parameters of the dataset DAGs: which night, which facilities, and how a run is named.

A run processes one local night. It is named explicitly by the ``night`` param (a date, in the
trigger form or in the REST/CLI ``conf``); without it, the night is the run's data interval
(the nightly schedule: the run after midnight processes the night before). ``facilities``
(optional) restricts the run to those facility codes.

Everything here is cheap and import-light (used at DAG parse time and in callbacks).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

TIMEZONE = "Asia/Ho_Chi_Minh"


def _tz() -> ZoneInfo:
    return ZoneInfo(os.environ.get("S06_TIMEZONE", TIMEZONE))


def night_param(params: Mapping[str, Any] | None) -> dt.date | None:
    """The ``night`` param as a date (``None`` when absent or empty).

    Raises:
        ValueError: if it is not an ISO date (``YYYY-MM-DD``).
    """
    value = (params or {}).get("night")
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"param 'night' must be a date YYYY-MM-DD, got {str(value)[:40]!r}") from None


def facilities_param(params: Mapping[str, Any] | None) -> list[str] | None:
    """The ``facilities`` param as a list of codes (``None``: every registered facility)."""
    value = (params or {}).get("facilities")
    if value in (None, "", []):
        return None
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    codes = [str(v).strip() for v in value if str(v).strip()]
    return codes or None


def night_interval(night: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[night 00:00, next day 00:00)`` local, as UTC datetimes (the form the ledger keys on)."""
    start = dt.datetime(night.year, night.month, night.day, tzinfo=_tz())
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def interval_for(night: dt.date | None, start: Any, end: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """The interval a run processes: the ``night`` param's, else the run's data interval (UTC)."""
    if night is not None:
        return night_interval(night)
    if start is None or end is None:
        return None
    return _utc(start), _utc(end)


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    value = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                        value.microsecond, tzinfo=value.tzinfo or dt.UTC)
    return value.astimezone(dt.UTC)


def run_id_for(night: dt.date, facilities: list[str] | None = None, now: dt.datetime | None = None) -> str:
    """A manual run id that names the night: ``night_2026-11-21__manual__20261130T120501Z``
    (``night_2026-11-21_01929+22015__manual__…`` when restricted to facilities)."""
    now = now or dt.datetime.now(dt.UTC)
    scope = ("_" + "+".join(facilities[:4]) + ("+more" if len(facilities) > 4 else "")) if facilities else ""
    return f"night_{night.isoformat()}{scope}__manual__{now:%Y%m%dT%H%M%SZ}"


def trigger_payload(night: dt.date, facilities: list[str] | None = None, note: str | None = None) -> dict[str, Any]:
    """The REST body (``POST /api/v2/dags/{dataset}/dagRuns``) that processes ``night``.

    The logical date is the night's local midnight and the data interval the night itself, as for
    the scheduled run of that night, so the deadline alert (counted from the logical date) and the
    interval agree; the ``night`` param says the same explicitly.
    """
    start, end = night_interval(night)
    conf: dict[str, Any] = {"night": night.isoformat()}
    if facilities:
        conf["facilities"] = list(facilities)
    return {
        "dag_run_id": run_id_for(night, facilities),
        "logical_date": start.isoformat(),
        "data_interval_start": start.isoformat(),
        "data_interval_end": end.isoformat(),
        "conf": conf,
        "note": note or f"night {night.isoformat()}" + (f", facilities {' '.join(facilities)}" if facilities else ""),
    }

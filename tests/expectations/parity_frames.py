"""Deterministic good/bad validation frames for every dataset (the compiled-suite parity proof).

* ``cases`` — each dataset's rule fixtures as one stacked frame: the test module's valid frame
  (8 rows), once per case with the case's cells changed (deaths had no fixture module: its cases
  are the fuzz frame);
* ``fuzz`` — 3,000 seeded rows drawn per column from pools of valid, invalid and NULL values, so
  every rule both passes and fails on many rows.

``tests/expectations/golden/<dataset>.json`` holds the findings the hand-written suites produced
on these frames (recorded before they were deleted); ``test_compiled_suites.py`` checks that the
compiled suites still produce exactly them.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

from expectations.reference import cccd_province_prefixes

FUZZ_ROWS = 3000
_MODULES = {
    "birth_certificates": "tests.expectations.test_expectations_birth_certificates",
    "driver_health_checks": "tests.expectations.test_expectations_driver_health_checks",
    "health_workforce": "tests.expectations.test_expectations_health_workforce",
}

# Pools of string values per column (valid, invalid, lower-case, padded ...); NULL is added to all.
_STRINGS: dict[str, list[str]] = {
    "certificate_code": ["12345.GCS.01929.25", "99999.GCS.01929.25", "1234.GCS.01929.25", "12345.gcs.01929.25",
                         "12345.GCS.01929.25\n"],
    "notice_code": ["12345.GBT.01013.26", "00001.GBT.79A01.25", "12345.GBT.0101.26", "x"],
    "code_facility": ["01929", "01013", "79A01"],
    "facility_code": ["01929", "01013", "79A01"],
    "issuing_facility_code": ["01013", "79A01"],
    "code_year": ["25", "26", "24"],
    "issue_year_2d": ["25", "26"],
    "mother_ethnicity_code": ["01", "54", "55", "00", "1"],
    "deceased_ethnicity_code": ["01", "27", "54", "60", "7"],
    "id_document_type": ["0", "1", "4", "5", "X"],
    "mother_social_insurance_no": ["0123456789", "012345678", "01234567890", "A123456789"],
    "mother_health_card_no": ["DN4010123456789", "0123456789", "DN6010123456789", "dn4010123456789"],
    "licence_number": ["000123/BYT-GPHN", "1234567/SYT-CCHN", "12/BYT-GPHN", "000123/byt-gphn", "000123/ĐN-CCHND"],
    "licence_issuer": ["BYT", "SYT HN"],
    "practice_facility_code": ["79001", "7900A", "01929", "1234"],
    "title": ["Bác sĩ", "Y tá"],
    "title_key": ["BÁC SĨ", "ĐIỀU DƯỠNG", "Y TÁ", "BAC SI", "LƯƠNG Y"],
    "licence_class": ["B", "C", "D2E", "B2", "A4", "Z9", "FE"],
    "licence_class_mapped": ["B", "C", "D2E", "A", "DE"],
    "conclusion_code": ["A0-1", "A0-2", "A0-3", "A0-4"],
    "state": ["ADD", "EDIT", "DELETE", "NEW"],
}
_INTEGERS: dict[str, list[int]] = {
    "child_sex": [0, 1, 2, 3, 4], "caesarean": [0, 1, 2], "under_32_weeks": [0, 1, -1],
    "children_in_delivery": [0, 1, 2, 3], "birth_order": [0, 1, 2], "living_children": [-1, 0, 1, 4],
    "birth_weight_g": [250, 300, 450, 500, 3200, 6000, 6500, 7000, 7100], "episode_size": [1, 2, 3],
    "mother_birth_year": [1960, 1995, 2012], "deceased_sex": [0, 1, 2, 3, 9], "deceased_birth_year": [1930, 1990],
    "sex": [0, 1, 2, 3], "drug_test_result": [0, 1, 2], "drug_tested": [0, 1], "drug_test_positive": [0, 1],
    "age_at_exam": [16, 18, 20, 21, 24, 26, 27, 40],
}
_NUMBERS: dict[str, list[float]] = {
    "issue_lag_days": [-1.0, 0.0, 3.0, 29.0, 30.0, 31.0, 365.0, 365.5, 400.0],
    "mother_age_at_birth": [9.5, 10.0, 25.5, 60.0, 61.0],
}


def _pool_values(rng: np.random.Generator, pool: list[Any], n: int, nulls: float = 0.15) -> list[Any]:
    picks = [pool[i] for i in rng.integers(0, len(pool), n)]
    return [None if rng.random() < nulls else v for v in picks]


def fuzz_frame(kinds: dict[str, str], seed: int) -> pd.DataFrame:
    """``FUZZ_ROWS`` rows with the dtypes of ``kinds``; values from the pools (NULLs everywhere)."""
    rng = np.random.default_rng(seed)
    n = FUZZ_ROWS
    prefixes = cccd_province_prefixes()
    base = pd.Timestamp("2026-01-01 00:00")
    data: dict[str, pd.Series] = {}
    for name, kind in sorted(kinds.items()):
        if kind == "string":
            if name in _STRINGS:
                pool = _STRINGS[name]
            elif "cccd" in name or name == "personal_id":
                pool = [f"{prefixes[i % len(prefixes)]}19500{i:04d}" for i in range(20)] + ["0001950000", "999195001234",
                                                                                         "12345678901a"]
            else:
                pool = ["x", "y", "NGUYỄN VĂN A"]
            data[name] = pd.Series(_pool_values(rng, pool, n), dtype="string")
        elif kind == "integer":
            data[name] = pd.Series(_pool_values(rng, _INTEGERS.get(name, [0, 1, 2]), n), dtype="Int64")
        elif kind == "number":
            data[name] = pd.Series(_pool_values(rng, _NUMBERS.get(name, [0.0, 1.0]), n), dtype="Float64")
        elif kind == "boolean":
            data[name] = pd.Series(_pool_values(rng, [True, False], n), dtype="boolean")
        else:  # datetime: around the cut-off
            minutes = rng.integers(-3 * 24 * 60, 60, n)
            values = base + pd.to_timedelta(minutes, unit="min")
            if name == "batch_cutoff":
                data[name] = pd.Series([base] * n, dtype="datetime64[ns]")
            else:
                data[name] = pd.Series(values, dtype="datetime64[ns]").mask(rng.random(n) < 0.15)
    return pd.DataFrame(data)


def cases_frame(dataset: str) -> pd.DataFrame | None:
    """The dataset's rule fixtures stacked into one frame (None: no fixture module)."""
    if dataset not in _MODULES:
        return None
    module = importlib.import_module(_MODULES[dataset])
    if dataset == "birth_certificates":
        from expectations.testing import valid_frame
    else:
        valid_frame = module.valid_frame
    blocks = []
    for param in module.CASES:
        frame = valid_frame(module.ROWS_PER_CASE)
        for column, value in param.values[0].items():
            frame.loc[module.ROW, column] = value
        blocks.append(frame)
    return pd.concat(blocks, ignore_index=True)


def frames(dataset: str, kinds: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Every parity frame of a dataset, by name."""
    out = {"fuzz": fuzz_frame(kinds, seed=sum(map(ord, dataset)))}
    stacked = cases_frame(dataset)
    if stacked is not None:
        out["cases"] = stacked
    return out

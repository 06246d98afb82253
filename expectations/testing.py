"""Synthetic validation frames for tests and benchmarks (no personal data, no GX import).

:func:`valid_frame` builds a frame that passes every rule of ``birth_certificates.conformed``
with the default options, with the dtypes the normalizer guarantees. Tests mutate single cells
of it; benchmarks time the suite on large ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from expectations.reference import cccd_province_prefixes

#: Facility of the synthetic batch (5-char code, QĐ 384/2019 style).
FACILITY = "01929"
#: End of the synthetic run's data interval plus grace.
BATCH_CUTOFF = pd.Timestamp("2026-01-01 00:00")


def valid_frame(rows: int = 8, seed: int = 0) -> pd.DataFrame:
    """Build a birth-certificate validation frame in which every row passes every rule.

    Optional columns carry a few NULLs (every fifth row or so) so that tests also cover "NULL is
    ignored". All values are synthetic.

    Args:
        rows: Number of rows.
        seed: Seed for the pseudo-random parts.

    Returns:
        A frame with a RangeIndex ``0..rows-1`` and the normalizer's nullable dtypes.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    birth = pd.Timestamp("2025-10-01 00:00") + pd.to_timedelta(i % 80_000, unit="min")
    issue = birth.normalize() + pd.to_timedelta(1 + i % 3, unit="D")
    prefixes = cccd_province_prefixes()
    serials = rng.integers(0, 1_000_000, rows)
    every_fifth = (i % 5) == 4

    def text(pattern: str, *columns: object) -> list[str]:
        return [pattern.format(*values) for values in zip(*columns, strict=True)]

    def nullable(values: object, dtype: str, null_mask: np.ndarray | None = None) -> pd.Series:
        series = pd.Series(values, dtype=dtype)
        if null_mask is not None:
            series = series.mask(null_mask)
        return series

    frame = pd.DataFrame(
        {
            "certificate_code": nullable(text("{:05d}.GCS." + FACILITY + ".25", i % 100_000), "string"),
            "code_facility": nullable([FACILITY] * rows, "string"),
            "code_year": nullable(["25"] * rows, "string"),
            "facility_code": nullable([FACILITY] * rows, "string"),
            "issue_year_2d": nullable(["25"] * rows, "string"),
            "birth_datetime": pd.Series(birth, dtype="datetime64[ns]"),
            "issue_date": pd.Series(issue, dtype="datetime64[ns]"),
            "batch_cutoff": pd.Series([BATCH_CUTOFF] * rows, dtype="datetime64[ns]"),
            "issue_lag_days": nullable((issue - birth.normalize()).days.astype(float), "Float64"),
            "is_reissue": nullable(i % 7 == 6, "boolean"),
            "child_sex": nullable(1 + i % 2, "Int64"),
            "caesarean": nullable(i % 2, "Int64", every_fifth),
            "under_32_weeks": nullable([0] * rows, "Int64", every_fifth),
            "children_in_delivery": nullable([1] * rows, "Int64"),
            "birth_order": nullable(1 + i % 3, "Int64", every_fifth),
            "living_children": nullable(i % 3, "Int64", every_fifth),
            "mother_ethnicity_code": nullable(text("{:02d}", 1 + i % 54), "string", every_fifth),
            "birth_weight_g": nullable(2500 + (i * 37) % 1500, "Int64", every_fifth),
            "episode_size": nullable([1] * rows, "Int64"),
            "mother_age_at_birth": nullable(18 + (i % 25) + 0.5, "Float64", every_fifth),
            "mother_cccd": nullable(
                text("{}195{:06d}", [prefixes[n % len(prefixes)] for n in i], serials), "string", every_fifth
            ),
            "mother_cccd_female": nullable([True] * rows, "boolean", every_fifth),
            "mother_cccd_year_ok": nullable([True] * rows, "boolean", every_fifth),
            "mother_social_insurance_no": nullable(text("{:010d}", i + 1_000_000_000), "string", every_fifth),
            "mother_health_card_no": nullable(text("DN4{:012d}", i), "string", every_fifth),
            "commune_in_province": nullable([True] * rows, "boolean", every_fifth),
            "surrogate_complete": nullable([True] * rows, "boolean", ~((i % 10) == 3)),
            "duplicate_first_issue": nullable([False] * rows, "boolean"),
            "mother_full_name": nullable(["NGUYỄN THỊ MẪU"] * rows, "string"),
            "mother_birth_year": nullable([1995] * rows, "Int64"),
            # Lookup answers: NULL = not known (no registry entry), which never fires.
            "mother_alive_at_birth": nullable([True] * rows, "boolean", every_fifth),
            "mother_registry_female": nullable([True] * rows, "boolean", every_fifth),
        }
    )
    return frame

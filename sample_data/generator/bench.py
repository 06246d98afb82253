"""Fast writer of many clean birth rows in the facility CSV format (benchmarks).

:func:`generate` builds every record as an object, which is right for a few thousand records
with defects but too slow for a million. Here rows are assembled from pre-rendered,
pre-quoted pools (mothers, names, times, dates) and written in chunks, so memory stays flat
and a million rows take seconds.

What "clean-ish" means: every row passes the rules of the sample drop (code pattern,
dates, weight range, ID structure consistent with the mother's birth year, commune within
the province, insurance numbers), with these simplifications:

* no twins, no surrogacy, no defects;
* a mother may have several children in the file (pools are reused);
* a facility issues at most 99,999 codes a year (5-digit running number), so a file larger
  than that spreads its issue dates over as many years as it needs, ending at ``end``. Rows
  issued before 01/07/2025 still carry post-2025 commune codes.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from pathlib import Path

from sample_data.generator import reference as ref
from sample_data.generator.births import CSV_HEADER, SEX_TEXT
from sample_data.generator.places import communes_of, province_name
from sample_data.generator.registry import NO_INSURANCE, build_facilities, health_card, make_personal_id, random_name
from sample_data.generator.rng import derive_rng, digits, weighted_choice
from sample_data.generator.writers import encode_text

CODES_PER_YEAR = 99_000  # keeps the 5-digit running number (max 99,999) with a margin
DEFAULT_END = date(2026, 11, 20)
CHUNK_ROWS = 20_000


def _q(value: str) -> str:
    """Quote one CSV value per RFC 4180 when needed."""
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _mother_pool(rng: random.Random, year: int, size: int, provinces: list[str]) -> list[str]:
    """Pre-rendered CSV fragments of mothers (columns ho_ten_me .. ma_xa) for births in ``year``."""
    prefixes = list(ref.ID_PROVINCE_PREFIXES)
    pool: list[str] = []
    for _ in range(size):
        born = date(year - 18 - rng.randrange(24), 1 + rng.randrange(12), 1 + rng.randrange(28))
        province = rng.choice(provinces)
        commune = rng.choice(communes_of(province))
        personal_id = make_personal_id(rng, rng.choice(prefixes), born, 2)
        issued = date(max(born.year + 14, year - 8), 1 + rng.randrange(12), 1 + rng.randrange(28))
        issued = min(issued, date(year - 1, 12, 31))
        if rng.random() < 0.9:
            insurance = digits(rng, 10)
            card = health_card("GD", "4", province, insurance)
        else:
            insurance = card = NO_INSURANCE
        address = (
            f"Số {1 + rng.randrange(199)}, {rng.choice(ref.STREET_PARTS)}, {commune.name}, {province_name(province)}"
        )
        pool.append(
            ",".join(
                [
                    _q(random_name(rng, 2)),
                    born.strftime("%d/%m/%Y"),
                    weighted_choice(rng, ref.ETHNICITY_WEIGHTS),
                    ref.NATIONALITY_VN,
                    ref.ID_TYPE_CCCD,
                    personal_id,
                    issued.strftime("%d/%m/%Y"),
                    insurance,
                    card,
                    _q(address),
                    province,
                    commune.code,
                ]
            )
        )
    return pool


def write_births_csv(
    path: Path,
    n_rows: int,
    seed: int = 6,
    *,
    facility_code: str = "31011",
    encoding: str = "utf-8",
    end: date = DEFAULT_END,
) -> int:
    """Write ``n_rows`` clean birth-certificate rows in the facility CSV format.

    Header and value formats are those of the sample drop's CSV facilities (contract source
    ``csv``): dates ``dd/MM/yyyy``, birth ``dd/MM/yyyy HH:mm``, sex ``Nam``/``Nữ``. Rows are
    in issue order; certificate codes and episode keys are unique. Deterministic for a
    given seed; memory does not grow with ``n_rows`` (chunks of 20,000 rows).

    Args:
        path: output file (parent folders are created).
        n_rows: number of data rows.
        seed: seed of every random draw.
        facility_code: the issuing facility (middle part of the codes).
        encoding: ``utf-8`` (default), ``utf-8-sig`` or ``cp1258``.
        end: last issue date.

    Returns:
        The number of data rows written.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    rng = derive_rng(seed, "bench", facility_code)
    facility = next((f for f in build_facilities(seed) if f.code == facility_code), None)
    place = facility.name if facility else f"Cơ sở {facility_code}"
    staff = list(facility.attendants) if facility else [f"BS. {random_name(rng, 2)}" for _ in range(6)]
    recorders = list(facility.recorders) if facility else [random_name(rng, 2) for _ in range(3)]
    home = facility.province_code if facility else "01"
    provinces = [home] * 6 + ["01", "79", "31", "48", "92", "38", "24", "37"]

    years = max(1, math.ceil(n_rows / CODES_PER_YEAR))
    per_year = math.ceil(n_rows / years) if n_rows else 0
    first_year = end.year - years + 1
    times = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
    fathers = [_q(random_name(rng, 1)) for _ in range(1024)]
    conditions = [_q(c) for c in ref.CHILD_CONDITIONS]
    place_q, staff_q, recorders_q = _q(place), [_q(s) for s in staff], [_q(r) for r in recorders]
    sex_text = [SEX_TEXT[1], SEX_TEXT[2]]

    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as fh:
        fh.write(encode_text(",".join(CSV_HEADER) + "\r\n", encoding))
        for y in range(years):
            year = first_year + y
            rows_this_year = min(per_year, n_rows - written)
            if rows_this_year <= 0:
                break
            year_start = date(year, 1, 4)  # births may be up to 3 days earlier, same year
            last_day = end if year == end.year else date(year, 12, 31)
            span = (last_day - year_start).days + 1
            days = [year_start + timedelta(days=d) for d in range(span)]
            day_text = [d.strftime("%d/%m/%Y") for d in days]
            mothers = _mother_pool(rng, year, min(rows_this_year, 20_000), provinces)
            n_mothers = len(mothers)
            yy = f"{year % 100:02d}"
            chunk: list[str] = []
            for i in range(rows_this_year):
                seq = i + 1
                issue_index = (i * span) // rows_this_year
                birth_index = max(0, issue_index - rng.randrange(4))
                sex = rng.randrange(2)
                birth_order = 1 + int(rng.random() * 2.6)
                caesarean = rng.random() < 0.35
                weight = 50 * int(min(max(rng.gauss(3150, 380), 2300), 4300) / 50)
                father = fathers[rng.randrange(1024)]
                has_father = rng.random() < 0.85
                row = ",".join(
                    [
                        f"{seq:05d}.GCS.{facility_code}.{yy}",
                        f"{facility_code}{yy}{seq:06d}",
                        mothers[rng.randrange(n_mothers)],
                        father if has_father else "",
                        f"TE1{home}{rng.randrange(10**10):010d}" if rng.random() < 0.4 else "",
                        "",
                        sex_text[sex],
                        "1",
                        str(birth_order),
                        str(birth_order),
                        str(weight),
                        f"{day_text[birth_index]} {times[rng.randrange(1440)]}",
                        place_q,
                        conditions[rng.randrange(len(conditions))],
                        "1" if caesarean else "0",
                        "0",
                        "Sinh mổ" if caesarean else "",
                        staff_q[rng.randrange(len(staff_q))],
                        recorders_q[rng.randrange(len(recorders_q))],
                        day_text[issue_index],
                        f"{(seq - 1) // 200 + 1:02d}/{year}",
                        "1",
                        "",
                        "",
                        "",
                    ]
                )
                chunk.append(row)
                if len(chunk) >= CHUNK_ROWS:
                    fh.write(encode_text("\r\n".join(chunk) + "\r\n", encoding))
                    chunk.clear()
            if chunk:
                fh.write(encode_text("\r\n".join(chunk) + "\r\n", encoding))
            written += rows_this_year
    return written

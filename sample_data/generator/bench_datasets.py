"""Fast writers of many clean rows of the new datasets in their ``csv`` layouts (benchmarks).

Like :func:`~sample_data.generator.bench.write_births_csv`: rows are assembled from
pre-rendered pools and written in chunks, so memory stays flat and a million rows take
seconds. Rows are clean (they pass the rules of the sample data) with these simplifications:
a person may appear on several rows (pools are reused) and the people are not in the sample
citizen registry (cross-dataset rules X1/X2/X5 are not meaningful on bench files). Keys are
unique: death-notice and certificate numbers spread their issue years back as far as needed
(at most 99,000 numbers a facility-year), licence numbers are 7 digits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.bench import CODES_PER_YEAR, DEFAULT_END, _q
from sample_data.generator.deaths import CSV_HEADER as DEATH_HEADER
from sample_data.generator.drivers import CSV_HEADER as DRIVER_HEADER
from sample_data.generator.places import communes_of, province_name
from sample_data.generator.registry import make_personal_id, random_name
from sample_data.generator.rng import derive_rng, digits, weighted_choice
from sample_data.generator.workforce import FIELDS as WORKFORCE_HEADER

CHUNK_ROWS = 20_000
POOL = 4096


def _people(rng: random.Random, size: int, ages: tuple[int, int], end: date) -> list[tuple[str, ...]]:
    """Pre-rendered people: (name, dob, sex, pid, id issue, address, province, commune)."""
    prefixes = list(ref.ID_PROVINCE_PREFIXES)
    provinces = ["01", "79", "31", "48", "92", "38", "24", "37", "46", "40"]
    out = []
    for _ in range(size):
        sex = 1 if rng.random() < 0.55 else 2
        born = date(end.year - ages[0] - rng.randrange(ages[1] - ages[0]), 1 + rng.randrange(12), 1 + rng.randrange(28))
        province = rng.choice(provinces)
        commune = rng.choice(communes_of(province))
        issued = date(max(born.year + 14, 2016), 1 + rng.randrange(12), 1 + rng.randrange(28))
        addr = f"Số {1 + rng.randrange(199)}, {rng.choice(ref.STREET_PARTS)}, {commune.name}, {province_name(province)}"
        out.append(
            (
                random_name(rng, sex),
                born.isoformat(),
                str(sex),
                make_personal_id(rng, rng.choice(prefixes), born, sex),
                issued.isoformat(),
                addr,
                province,
                commune.code,
            )
        )
    return out


def _write(path: Path, header: tuple[str, ...], n_rows: int, row: Callable[[int], str]) -> int:
    """Stream ``n_rows`` rows (``row(i)`` gives one CSV line without line end), CRLF, UTF-8."""
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write((",".join(header) + "\r\n").encode("utf-8"))
        for first in range(0, n_rows, CHUNK_ROWS):
            lines = [row(i) for i in range(first, min(first + CHUNK_ROWS, n_rows))]
            fh.write(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return n_rows


def _numbering(n_rows: int, end: date) -> Callable[[int], tuple[int, int]]:
    """Row index -> (running number, year), unique, years counting back from ``end``."""
    years = max(1, math.ceil(n_rows / CODES_PER_YEAR))
    per_year = math.ceil(n_rows / years) if n_rows else 1

    def of(i: int) -> tuple[int, int]:
        return i % per_year + 1, end.year - years + 1 + i // per_year

    return of


def write_deaths_csv(
    path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "79011", end: date = DEFAULT_END
) -> int:
    """Write ``n_rows`` clean death notices in the ``csv`` layout (UTF-8, NFC).

    Args:
        path: output file.
        n_rows: data rows.
        seed: seed of every random draw.
        facility_code: issuing facility (``MACSKCB`` and the code's facility part).
        end: last issue date.

    Returns:
        Rows written.
    """
    rng = derive_rng(seed, "bench", "death_notices", facility_code)
    people = _people(rng, POOL, (45, 90), end)
    causes = list(cl.CAUSES_OF_DEATH.items())
    relatives = [_q(random_name(rng, 1 + rng.randrange(2))) for _ in range(256)]
    facility = _q(f"Cơ sở {facility_code}")
    number = _numbering(n_rows, end)

    def row(i: int) -> str:
        seq, year = number(i)
        p = people[rng.randrange(POOL)]
        day = min(date(year, 1 + rng.randrange(12), 1 + rng.randrange(28)), end - timedelta(days=3))
        hh, mm = rng.randrange(20), rng.randrange(60)
        issue = day + timedelta(days=rng.randrange(3))
        code, (name, _) = causes[rng.randrange(len(causes))]
        values = [
            f"{seq:05d}.GBT.{facility_code}.{issue.year % 100:02d}", digits(rng, 10), "", _q(p[0]),
            p[1].replace("-", ""), p[2], "", weighted_choice(rng, ref.ETHNICITY_WEIGHTS), ref.NATIONALITY_VN,
            _q(p[5]), p[6], p[7], ref.ID_TYPE_CCCD, p[3], p[4].replace("-", ""), _q(ref.ID_ISSUER),
            f"{day:%Y%m%d}{max(hh - 2, 0):02d}{mm:02d}", f"{day:%Y%m%d}{hh:02d}{mm:02d}", "0", _q(name),
            relatives[i % 256], relatives[(i * 7) % 256], relatives[3], f"{seq:05d}",
            f"{(seq - 1) // 100 + 1:02d}/{issue.year}", f"{issue:%Y%m%d}", "", "", facility_code, facility, "",
            code, _q(name),
        ]  # fmt: skip
        return ",".join(values)

    return _write(path, DEATH_HEADER, n_rows, row)


def write_drivers_csv(
    path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "37012", end: date = DEFAULT_END
) -> int:
    """Write ``n_rows`` clean driver health certificates in the ``csv`` layout (UTF-8; sex 1/2).

    Args:
        path: output file.
        n_rows: data rows.
        seed: seed of every random draw.
        facility_code: examining facility.
        end: last conclusion date.

    Returns:
        Rows written.
    """
    rng = derive_rng(seed, "bench", "driver_health_checks", facility_code)
    people = _people(rng, POOL, (40, 70), end)
    doctors = [_q(random_name(rng, 1 + rng.randrange(2))) for _ in range(64)]
    facility = _q(f"Cơ sở {facility_code}")
    classes = [c for c in cl.CLASS_WEIGHTS for _ in range(cl.CLASS_WEIGHTS[c])]
    number = _numbering(n_rows, end)

    def row(i: int) -> str:
        seq, year = number(i)
        p = people[rng.randrange(POOL)]
        day = min(date(year, 1 + rng.randrange(12), 1 + rng.randrange(28)), end)
        klass = classes[rng.randrange(len(classes))]
        dob = date.fromisoformat(p[1])
        issued = date.fromisoformat(p[4])
        values = [
            f"{seq:05d}/GKSKLX/{facility_code}/{year % 100:02d}", _q(p[0]), p[2], f"{dob:%d/%m/%Y}", _q(p[5]), p[6],
            p[7], p[3], f"{issued:%d/%m/%Y}", _q(ref.ID_ISSUER), facility_code, facility, f"{day:%d/%m/%Y}", "0", "1",
            "0", f"{day:%d/%m/%Y}", doctors[i % 64], cl.FIT, klass, "", _q(cl.EXAM_REASONS[i % 3]),
            _q(cl.HEALTH_NOTES[cl.FIT]), "ADD",
        ]  # fmt: skip
        return ",".join(values)

    return _write(path, DRIVER_HEADER, n_rows, row)


def write_workforce_csv(
    path: Path, n_rows: int, seed: int = 6, *, facility_code: str = "46001", end: date = DEFAULT_END
) -> int:
    """Write ``n_rows`` clean practitioner registrations in the ``csv`` layout (UTF-8, NFC).

    Licence numbers are ``NNNNNNN/BYT-GPHN`` (7 digits, unique up to 9 million rows).

    Args:
        path: output file.
        n_rows: data rows.
        seed: seed of every random draw.
        facility_code: the registering facility.
        end: last update date.

    Returns:
        Rows written.
    """
    if n_rows > 9_000_000:
        raise ValueError("at most 9,000,000 rows (7-digit licence numbers)")
    rng = derive_rng(seed, "bench", "health_workforce", facility_code)
    people = _people(rng, POOL, (26, 60), end)
    titles = [
        (t, [_q(s) for s in scopes]) for t, (w, scopes) in cl.TITLES.items() if t != cl.PHARMACIST for _ in range(w)
    ]

    def row(i: int) -> str:
        p = people[rng.randrange(POOL)]
        title, scopes = titles[rng.randrange(len(titles))]
        licensed = date(2012 + rng.randrange(12), 1 + rng.randrange(12), 1 + rng.randrange(28))
        started = licensed + timedelta(days=30 + rng.randrange(300))
        updated = end - timedelta(days=rng.randrange(365))
        values = [
            p[3], _q(p[0]), p[1].replace("-", ""), p[2], title, f"{1_000_000 + i:07d}/BYT-GPHN", "Bộ Y tế",
            f"{licensed:%Y%m%d}", scopes[rng.randrange(len(scopes))], facility_code, f"{started:%Y%m%d}", "",
            f"{max(updated, started):%Y%m%d}",
        ]  # fmt: skip
        return ",".join(values)

    return _write(path, WORKFORCE_HEADER, n_rows, row)

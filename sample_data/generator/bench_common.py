"""Shared pieces of the fast benchmark writers (one per dataset module): CSV quoting, chunked
writing, unique numbering over years, pools of pre-rendered people."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sample_data.generator import reference as ref
from sample_data.generator.places import communes_of, province_name
from sample_data.generator.registry import make_personal_id, random_name

CODES_PER_YEAR = 99_000  # keeps the 5-digit running number (max 99,999) with a margin


DEFAULT_END = date(2026, 11, 20)


CHUNK_ROWS = 20_000


def _q(value: str) -> str:
    """Quote one CSV value per RFC 4180 when needed."""
    if "," in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


POOL = 4096


def _people(rng: random.Random, size: int, ages: tuple[int, int], end: date) -> list[tuple[str, ...]]:
    """Pre-rendered people: (name, dob, sex, pid, id issue, address, province, commune)."""
    prefixes = list(ref.ID_PROVINCE_PREFIXES)
    provinces = ["01", "79", "31", "48", "92", "38", "24", "37", "46", "40"]
    out: list[tuple[str, ...]] = []
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

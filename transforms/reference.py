"""Reference code lists used by normalizers and expectations (pure data, no I/O).

Unverified values ([U] in DOMAIN.md) are defaults that callers can override through options;
they are here so that one list is shared instead of copied.
"""

from __future__ import annotations

import csv
from importlib import resources

#: Data file (prefix, province) shipped with this package, reviewable as a diff.
CCCD_PREFIX_FILE = "cccd_province_prefixes.csv"


def _load_prefixes() -> frozenset[str]:
    text = resources.files(__package__).joinpath("data", CCCD_PREFIX_FILE).read_text("utf-8")
    return frozenset(row["prefix"] for row in csv.DictReader(text.splitlines()))


#: 3-digit province-of-birth prefixes of the 12-digit personal ID (pre-2025 63-province GSO
#: codes, zero-padded). DOMAIN.md §7.1 [C-impl] S10. They do not change with the 2025 merger.
CCCD_PROVINCE_PREFIXES: frozenset[str] = _load_prefixes()

#: Ethnicity codes (QĐ 121-TCTK/PPCĐ): 54 groups, 01 = Kinh. DOMAIN.md §10 [U values].
ETHNICITY_CODES: frozenset[str] = frozenset(f"{i:02d}" for i in range(1, 55))

#: Date the two-level administrative units (QĐ 19/2025) came into force (DOMAIN.md §8.1).
ADMIN_REFORM_DATE = "2025-07-01"

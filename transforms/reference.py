"""Reference code lists used by normalizers and expectations (pure data, no I/O).

Unverified values ([U] in DOMAIN.md) are defaults that callers can override through options;
they are here so that one list is shared instead of copied.
"""

from __future__ import annotations

#: 3-digit province-of-birth prefixes of the 12-digit personal ID (pre-2025 63-province GSO
#: codes, zero-padded). DOMAIN.md §7.1 [C-impl] S10. They do not change with the 2025 merger.
CCCD_PROVINCE_PREFIXES: frozenset[str] = frozenset(
    """001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034
    035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068
    070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096""".split()
)

#: Ethnicity codes (QĐ 121-TCTK/PPCĐ): 54 groups, 01 = Kinh. DOMAIN.md §10 [U values].
ETHNICITY_CODES: frozenset[str] = frozenset(f"{i:02d}" for i in range(1, 55))

#: Date the two-level administrative units (QĐ 19/2025) came into force (DOMAIN.md §8.1).
ADMIN_REFORM_DATE = "2025-07-01"

"""Post-2025 administrative units (34 provinces, 3,321 communes) from ``vietnam-provinces``.

The package is offline and ships only the units in force since 01/07/2025 (DOMAIN.md §8.2);
its codes are integers, zero-padded here to the 2- and 5-digit strings the files carry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from vietnam_provinces import Province, ProvinceCode, Ward

from sample_data.generator import reference as ref


@dataclass(frozen=True)
class Commune:
    """One commune-level unit (xã, phường or đặc khu).

    Attributes:
        code: 5-digit commune code.
        name: Vietnamese name, NFC (e.g. "Phường Hoàn Kiếm").
        province_code: 2-digit code of the province it belongs to.
    """

    code: str
    name: str
    province_code: str


@lru_cache(maxsize=1)
def province_codes() -> tuple[str, ...]:
    """All 34 province codes, 2 digits, ascending."""
    return tuple(sorted(f"{int(pc.value):02d}" for pc in ProvinceCode))


@lru_cache(maxsize=64)
def province_name(code: str) -> str:
    """The official name of a post-2025 province.

    Args:
        code: 2-digit province code.

    Returns:
        The name, e.g. "Thành phố Hà Nội".
    """
    return str(Province.from_code(ProvinceCode(int(code))).name)


@lru_cache(maxsize=64)
def communes_of(province_code: str) -> tuple[Commune, ...]:
    """The communes of one province, sorted by code.

    Args:
        province_code: 2-digit province code.

    Returns:
        The province's communes.
    """
    wards = Ward.iter_by_province(ProvinceCode(int(province_code)))
    units = [Commune(code=f"{int(w.code.value):05d}", name=str(w.name), province_code=province_code) for w in wards]
    return tuple(sorted(units, key=lambda c: c.code))


def address(rng: random.Random, commune_name: str, province_code: str) -> str:
    """A residence text: house number and street/hamlet, commune, province.

    Args:
        rng: the stream to draw from.
        commune_name: commune name.
        province_code: 2-digit province.

    Returns:
        E.g. "Số 17, Đường Lê Lợi, Phường Hoàn Kiếm, Thành phố Hà Nội".
    """
    street = rng.choice(ref.STREET_PARTS)
    number = f"Số {1 + rng.randrange(199)}, " if rng.random() < 0.7 else ""
    return f"{number}{street}, {commune_name}, {province_name(province_code)}"

"""Personal identifiers shared by every dataset (DOMAIN.md §7): ID document types and the
structure of the 12-digit personal ID. Pure Arrow compute."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.reference import CCCD_PROVINCE_PREFIXES

#: ID document types (PL02 LOAI_GIAYTO; DOMAIN §7.5 [C-impl]): 1 = personal ID (CCCD).
ID_TYPE_CCCD = "1"


def _null_str(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def effective_id_type(id_type: pa.Array, id_number: pa.Array) -> pa.Array:
    """The ID document type, inferred where the source has no type field (XML9).

    A 9-digit number is an old identity card (CMND, type 2); any other all-digit number is
    treated as a personal ID (type 1) so that wrong lengths are caught, not waved through;
    anything with letters is a passport (type 3).
    """
    digits = pc.fill_null(pc.match_substring_regex(id_number, r"^\d+$"), False)
    nine = pc.equal(pc.utf8_length(id_number), 9)
    inferred = pc.if_else(
        digits, pc.if_else(pc.fill_null(nine, False), "2", ID_TYPE_CCCD), pa.scalar("3", pa.string())
    )
    inferred = pc.if_else(pc.is_valid(id_number), inferred, _null_str(len(id_number)))
    return pc.coalesce(id_type, inferred)


def cccd_checks(id_number: pa.Array, birth_year: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Structure-derived facts of 12-digit personal IDs (DOMAIN §7.1).

    Returns:
        ``(structurally_valid, female, year_ok)``: ``female`` and ``year_ok`` are NULL where the
        structure is invalid or (for ``year_ok``) the birth year is unknown.
    """
    twelve = pc.fill_null(pc.match_substring_regex(id_number, r"^\d{12}$"), False)
    prefix = pc.utf8_slice_codeunits(id_number, 0, 3)
    valid = pc.and_(twelve, pc.fill_null(pc.is_in(prefix, value_set=pa.array(sorted(CCCD_PROVINCE_PREFIXES))), False))
    digit4 = pc.cast(pc.if_else(valid, pc.utf8_slice_codeunits(id_number, 3, 4), "0"), pa.int32())
    yy = pc.cast(pc.if_else(valid, pc.utf8_slice_codeunits(id_number, 4, 6), "0"), pa.int32())
    female = pc.if_else(valid, pc.equal(pc.bit_wise_and(digit4, 1), 1), pa.scalar(None, pa.bool_()))
    derived_year = pc.add(pc.add(1900, pc.multiply(pc.divide(digit4, 2), 100)), yy)
    year_ok = pc.if_else(
        pc.and_(valid, pc.is_valid(birth_year)),
        pc.equal(derived_year, pc.cast(birth_year, pa.int32())),
        pa.scalar(None, pa.bool_()),
    )
    return valid, female, year_ok

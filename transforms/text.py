"""Vietnamese text normalisation (DOMAIN §11), vectorized over Arrow string arrays."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

# Look-alike letters that are not Vietnamese Đ/đ (Icelandic eth) – seen in copy-pasted data.
_LOOKALIKES = {"\u00d0": "\u0110", "\u00f0": "\u0111"}


def clean_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """NFC-normalise, trim, collapse internal whitespace; empty strings become NULL.

    NFC first, so that lengths, equality, dedup keys and hashes agree whether the source sent
    precomposed (NFC) or decomposed (NFD, or cp1258 combining tone marks) text.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out = arr
    # Most columns are codes and digits: pure ASCII needs no Unicode normalisation, and the
    # whitespace regex only runs when there is something to collapse (both are costly per row).
    if not pc.all(pc.fill_null(pc.string_is_ascii(out), True)).as_py():
        out = pc.utf8_normalize(out, "NFC")
        for bad, good in _LOOKALIKES.items():
            out = pc.replace_substring(out, bad, good)
    if pc.any(pc.fill_null(pc.match_substring_regex(out, r"\s\s|[\t\n\r\f\v]"), False)).as_py():
        out = pc.replace_substring_regex(out, r"\s{2,}|[\t\n\r\f\v]", " ")
    out = pc.utf8_trim_whitespace(out)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def upper_vi(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Vietnamese-aware upper-casing (Unicode full case mapping: đ→Đ, ơ→Ơ, ư→Ư, ễ→Ễ)."""
    return pc.utf8_upper(arr)


def upper_vi_str(value: str) -> str:
    """Scalar form of :func:`clean_text` + :func:`upper_vi`, for code-map keys."""
    return " ".join(unicodedata.normalize("NFC", value).split()).upper()

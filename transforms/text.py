"""Vietnamese text normalisation (DOMAIN §11), vectorized over Arrow string arrays."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

# Look-alike letters that are not Vietnamese Đ/đ (Icelandic eth) – seen in copy-pasted data.
_LOOKALIKES = {"\u00d0": "\u0110", "\u00f0": "\u0111"}
#: Characters NFC may rewrite: combining marks, Hangul jamo, canonical singletons (Ω K Å...),
#: CJK compatibility ideographs. A string without any of them is already NFC.
_NFC_CANDIDATES = (
    r"[\x{0300}-\x{036F}\x{0374}\x{037E}\x{0387}\x{0483}-\x{0489}\x{0591}-\x{05C7}\x{0610}-\x{061A}"
    r"\x{064B}-\x{065F}\x{0900}-\x{0DFF}\x{1100}-\x{11FF}\x{1AB0}-\x{1AFF}\x{1DC0}-\x{1DFF}"
    r"\x{1F00}-\x{1FFF}\x{2000}\x{2001}\x{20D0}-\x{20FF}\x{2126}\x{212A}\x{212B}\x{2329}\x{232A}"
    r"\x{3099}\x{309A}\x{F900}-\x{FAFF}\x{FE20}-\x{FE2F}\x{1D15E}-\x{1D1C0}\x{2F800}-\x{2FA1F}]"
)


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
    ascii_only = pc.all(pc.fill_null(pc.string_is_ascii(out), True)).as_py()
    if not ascii_only:
        # NFC can only change a string holding a combining mark or a canonical singleton; only
        # those rows (NFD input, cp1258's combining tones) pay for normalisation.
        needs = pc.fill_null(pc.match_substring_regex(out, _NFC_CANDIDATES), False)
        if pc.any(needs).as_py():
            out = pc.replace_with_mask(out, needs, pc.utf8_normalize(out.filter(needs), "NFC"))
        for bad, good in _LOOKALIKES.items():
            out = pc.replace_substring(out, bad, good)
    if _has_whitespace_to_collapse(out, ascii_only):
        out = pc.replace_substring_regex(out, r"\s{2,}|[\t\n\r\f\v]", " ")
    # (not ascii_trim_whitespace: the Unicode kernel also trims the information separators
    # U+001C..U+001F, and the result must not depend on whether a column happens to be ASCII)
    out = pc.utf8_trim_whitespace(out)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def _has_whitespace_to_collapse(arr: pa.Array, ascii_only: bool) -> bool:
    """Whether any value holds a run of whitespace or a tab/newline/CR/FF/VT (what the collapse replaces).

    ASCII columns (codes, numbers, dates: most of them) are answered without a regex: in ASCII
    such a value holds two spaces or a character that is not printable (a false positive only
    costs the regex).
    """
    if ascii_only:
        if pc.any(pc.fill_null(pc.match_substring(arr, "  "), False)).as_py():
            return True
        printable = pc.or_(pc.ascii_is_printable(arr), pc.equal(arr, ""))
        return not pc.all(pc.fill_null(printable, True)).as_py()
    return bool(pc.any(pc.fill_null(pc.match_substring_regex(arr, r"\s\s|[\t\n\r\f\v]"), False)).as_py())


def upper_vi(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Vietnamese-aware upper-casing (Unicode full case mapping: đ→Đ, ơ→Ơ, ư→Ư, ễ→Ễ)."""
    return pc.utf8_upper(arr)


def upper_vi_str(value: str) -> str:
    """Scalar form of :func:`clean_text` + :func:`upper_vi`, for code-map keys."""
    return " ".join(unicodedata.normalize("NFC", value).split()).upper()

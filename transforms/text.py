"""Vietnamese text normalisation (DOMAIN §11), vectorized over Arrow string arrays."""

from __future__ import annotations

import unicodedata

import numpy as np
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

    Most values need none of it: codes, digits and dates, and Vietnamese text already in NFC.
    One pass over the column's UTF-8 bytes (:func:`_alarm_rows`) finds the values that may hold
    something the NFC, look-alike or whitespace steps could change; only those take them (the
    whole column when they are many). Trimming and empty-to-NULL run only where some value has
    surrounding whitespace or is empty.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        return _clean_text_full(arr)
    rows = _alarm_rows(arr)
    if len(rows) > len(arr) // 8:
        return _clean_text_full(arr)
    if len(rows):
        # The steps are per value: the few values that may need them take them, the rest not.
        mask = np.zeros(len(arr), bool)
        mask[rows] = True
        arr = pc.replace_with_mask(arr, pa.array(mask), _clean_text_full(arr.filter(mask)))
    return _trim_and_null_empty(arr)


def _clean_text_full(arr: pa.Array) -> pa.Array:
    """Every step of :func:`clean_text`, each skipped only where a kernel proves it a no-op."""
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


#: Bytes that are whitespace on their own (what ``utf8_trim_whitespace`` trims in ASCII: tab, LF,
#: VT, FF, CR, the information separators U+001C..U+001F, space).
_ASCII_SPACE = np.zeros(256, bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
#: Lead bytes of the non-ASCII Unicode whitespace (U+0085, U+00A0: C2; U+1680, U+180E: E1;
#: U+2000..U+205F: E2; U+3000: E3) and the byte before the last one of each (C2 for the two-byte
#: ones; 9A, A0, 80, 81 for the three-byte ones). A value whose edges avoid them has nothing to trim.
_SPACE_LEAD = np.zeros(256, bool)
_SPACE_LEAD[[0xC2, 0xE1, 0xE2, 0xE3]] = True
_SPACE_PENULTIMATE = np.zeros(256, bool)
_SPACE_PENULTIMATE[[0xC2, 0x9A, 0xA0, 0x80, 0x81]] = True


def utf8_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of a ``string`` array's values and each value's start offset into them
    (``len(arr) + 1`` offsets), without copying."""
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1] \
        if offsets_buf is not None else np.zeros(1, np.int32)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    start = int(offsets[0]) if len(offsets) else 0
    return data[start: int(offsets[-1]) if len(offsets) else 0], offsets - start


def value_matrix(arr: pa.Array, width: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The bytes of the values at ``rows`` (every value when None), each ``width`` bytes long, as
    a ``len(rows) x width`` matrix: a view of the buffer when every value is selected, a gather
    otherwise. The caller has checked the lengths."""
    data, offsets = utf8_bytes(arr)
    if rows is None:
        return data[: len(arr) * width].reshape(len(arr), width)
    return data[offsets[rows][:, None] + np.arange(width)]


def layout_matches(chars: np.ndarray, layout: str, classes: dict[str, bytes]) -> bool:
    """Whether every row of a byte matrix has ``layout``: at each position a byte of
    ``classes[c]`` where ``c`` names a class, else the character ``c`` itself."""
    for i, c in enumerate(layout):
        allowed = np.frombuffer(classes.get(c, c.encode()), dtype=np.uint8)
        column = chars[:, i]
        ok = (column == allowed[0]) if len(allowed) == 1 else np.isin(column, allowed)
        if not ok.all():
            return False
    return True


#: Byte classes of :func:`layout_matches`.
DIGITS = b"0123456789"
UPPER_ALNUM = DIGITS + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digits_only(arr: pa.Array, min_len: int, max_len: int) -> bool:
    """Whether every non-NULL value is ASCII digits, ``min_len`` to ``max_len`` of them (bytes of
    NULL slots count too: a false "no" only sends the column to the general path)."""
    if arr.type != pa.string():
        return False
    data, offsets = utf8_bytes(arr)
    if len(data) and (data.min() < 48 or data.max() > 57):
        return False
    lengths = offsets[1:] - offsets[:-1]
    if arr.null_count:
        lengths = lengths[arr.is_valid().to_numpy(zero_copy_only=False)]
    return not len(lengths) or (int(lengths.min()) >= min_len and int(lengths.max()) <= max_len)


def _alarm_rows(arr: pa.Array) -> np.ndarray:
    """Rows that may hold something only the full steps handle: a character NFC could rewrite, an
    Icelandic eth look-alike, or whitespace to collapse (two spaces, a tab, LF, VT, FF or CR).
    Found from the bytes of the whole column at once; a false alarm (two spaces across two
    values, a NULL slot's bytes) only costs the full steps, never a different result.
    """
    data, offsets = utf8_bytes(arr)
    if not len(data):
        return np.zeros(0, np.int64)
    at = []
    if data.min() <= 13:
        at.append(np.flatnonzero((data >= 9) & (data <= 13)))
    head, after = data[:-1], data[1:]
    double = (head == 32) & (after == 32)
    if double.any():
        at.append(np.flatnonzero(double))
    top = data.max()
    if top >= 0xC3:  # the look-alikes U+00D0 / U+00F0 (C3 90 / C3 B0)
        eth = (head == 0xC3) & ((after == 0x90) | (after == 0xB0))
        if eth.any():
            at.append(np.flatnonzero(eth))
    if top >= 0xCC:
        # Every NFC candidate is at U+0300 or above (lead byte CC or higher) - but the Vietnamese
        # letters U+1EA0..U+1EFF (E1 BA / E1 BB), which are NFC, share the lead byte E1. Counted
        # first (cheap); positions only when some lead byte is not one of those letters'.
        lead = data >= 0xCC
        vietnamese = (head == 0xE1) & ((after == 0xBA) | (after == 0xBB))
        if np.count_nonzero(lead) != np.count_nonzero(vietnamese):
            high = np.flatnonzero(lead)
            first = data[high]
            second = data[np.minimum(high + 1, len(data) - 1)]
            at.append(high[~((first == 0xE1) & ((second == 0xBA) | (second == 0xBB)))])
    if not at:
        return np.zeros(0, np.int64)
    where = np.concatenate(at)
    return np.unique(np.searchsorted(offsets, where, side="right") - 1)


def _edge_space(arr: pa.Array) -> np.ndarray:
    """Per value: whether it may start or end with whitespace (a false alarm only costs the trim)."""
    data, offsets = utf8_bytes(arr)
    flags = np.zeros(len(arr), bool)
    if not len(data):
        return flags
    starts, ends = offsets[:-1], offsets[1:]
    full = np.flatnonzero(ends > starts) if (ends <= starts).any() else slice(None)
    s, e = starts[full], ends[full]
    first, last = data[s], data[e - 1]
    edge = _ASCII_SPACE[first] | _ASCII_SPACE[last]
    # a multi-byte space at either edge: its lead byte first, its byte before the last one last
    lead = np.flatnonzero(_SPACE_LEAD[first])
    if len(lead):
        second = data[np.minimum(s[lead] + 1, len(data) - 1)]
        edge[lead] |= (first[lead] == 0xC2) | _SPACE_PENULTIMATE[second]
    tail = np.flatnonzero(last >= 0x80)
    if len(tail):
        edge[tail] |= _SPACE_PENULTIMATE[data[np.maximum(e[tail] - 2, 0)]]
    flags[full] = edge
    return flags


def _trim_and_null_empty(arr: pa.Array) -> pa.Array:
    """Trim surrounding whitespace (only when some value has any) and turn empty values into NULL."""
    if _edge_space(arr).any():
        return _null_empty(pc.utf8_trim_whitespace(arr))
    _, offsets = utf8_bytes(arr)
    empty = offsets[1:] == offsets[:-1]
    if arr.null_count:
        empty &= arr.is_valid().to_numpy(zero_copy_only=False)
    return _null_empty(arr) if empty.any() else arr


def _null_empty(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


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

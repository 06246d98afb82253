import datetime as dt
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from config.contracts import load_contract
from transforms.normalize import normalize
from transforms.text import clean_text

CONTRACT = load_contract("birth_certificates")


def _one(source_format: str, **values: str):
    raw = pa.table({k: [v] for k, v in values.items()} | {"_source_ref": ["row 1"]})
    result = normalize(raw, CONTRACT, source_format)
    return result.table.to_pylist()[0], {f.column: f.rule_id for f in result.failures}


def test_nfd_and_spacing_become_nfc_upper():
    nfd = unicodedata.normalize("NFD", "Nguyễn  thị Hương ")
    row, failures = _one("csv", ho_ten_me=nfd)
    assert row["mother_full_name"] == "NGUYỄN THỊ HƯƠNG"
    assert unicodedata.is_normalized("NFC", row["mother_full_name"])
    assert failures == {}


def test_eth_lookalike_repaired():
    assert clean_text(pa.array(["\u00d0ặng"])).to_pylist() == ["Đặng"]


def test_ids_stay_strings_with_leading_zeros():
    row, _ = _one("xml9", SO_CCCD_NND="001190012345", MATINH_CU_TRU="001", MAXA_CU_TRU="70")
    assert row["mother_id_number"] == "001190012345"
    assert row["residence_province_code"] == "01"
    assert row["residence_commune_code"] == "00070"


def test_none_values_become_null():
    row, _ = _one("xml9", MA_BHXH_NND="0000000000")
    assert row["mother_social_insurance_no"] is None


@pytest.mark.parametrize(
    ("value", "expected", "failed"),
    [
        pytest.param("Nam", 1, False, id="nam"),
        pytest.param("nữ", 2, False, id="nu-lower"),
        pytest.param("Chưa xác định", 3, False, id="undetermined"),
        pytest.param("X", None, True, id="unknown"),
    ],
)
def test_csv_sex_code_map(value, expected, failed):
    row, failures = _one("csv", gioi_tinh_con=value)
    assert row["child_sex"] == expected
    assert ("child_sex" in failures) is failed
    if failed:
        assert failures["child_sex"] == "B3"


def test_xml_sex_codes_are_numeric_not_mapped_text():
    row, failures = _one("xml9", GIOI_TINH_CON="Nam")
    assert row["child_sex"] is None and failures["child_sex"] == "B3"


def test_weight_not_weighed_is_null_with_flag():
    row, failures = _one("csv", can_nang="Không cân")
    assert row["birth_weight_g"] is None
    assert row["birth_weight_not_measured"] is True
    assert failures == {}


def test_weight_garbage_fails_with_b4():
    row, failures = _one("csv", can_nang="3,2kg")
    assert row["birth_weight_g"] is None
    assert failures == {"birth_weight_g": "B4"}


@pytest.mark.parametrize(("value", "expected"), [("+3250", 3250), ("3250.00", 3250), ("-0", 0), ("+3250.0", 3250)])
def test_signed_and_decimal_integers_parse_instead_of_raising(value, expected):
    """Arrow casts "-5" but refuses "+5": a plus sign once raised out of normalize (the batch failed)."""
    row, failures = _one("csv", can_nang=value)
    assert row["birth_weight_g"] == expected
    assert failures == {}


def test_datetime_forms_per_format():
    row, failures = _one("pl02", NGAY_SINH_CON="20261121103000", NGAY_CT="20261122", NGAYSINH_NND="1995")
    assert row["birth_datetime"] == dt.datetime(2026, 11, 21, 10, 30)
    assert row["issue_date"] == dt.date(2026, 11, 22)
    assert row["mother_birth_date"] is None and row["mother_birth_year"] == 1995
    assert failures == {}


def test_impossible_birth_date_is_reason_not_exception():
    row, failures = _one("csv", ngay_gio_sinh="31/02/2026 10:00", ngay_cap="abc")
    assert row["birth_datetime"] is None
    assert failures == {"birth_datetime": "B2", "issue_date": "B2"}


def test_flags_parse():
    row, failures = _one("pl02", SINHCON_PHAUTHUAT="1", SINHCON_DUOI32TUAN="0", CAP_LAN_DAU="2")
    assert row["caesarean"] is True and row["under_32_weeks"] is False
    assert failures == {"first_issue": "B9"}


def test_unknown_tags_ignored_and_absent_tags_null():
    row, failures = _one("xml9", DU_PHONG="x", MA_TTDV="123")
    assert row["certificate_code"] is None
    assert failures == {}


def test_clean_text_equals_full_nfc_on_vietnamese_in_every_form():
    letters = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
    words = [letters, letters.upper(), "Hoà Bình", "Thuỷ", "\u212b\u2126", "한국어", "Ελληνικά ά"]
    samples = []
    for w in words:
        for form in ("NFC", "NFD", "NFKD"):
            samples.append(unicodedata.normalize(form, w))
    got = clean_text(pa.array(samples)).to_pylist()
    assert got == [unicodedata.normalize("NFC", s) for s in samples]


def test_clean_text_on_ascii_matches_the_regex_definition():
    """ASCII columns skip the whitespace regex when nothing needs collapsing; the result must equal
    the definition (collapse runs of whitespace and any tab/newline/CR/FF/VT, trim, empty -> NULL)
    for every ASCII character, control characters included."""
    import random
    import re

    rng = random.Random(9)
    alphabet = [chr(i) for i in range(128)]
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3000)]
    samples += ["plain", "12345", "", " ", "a  b", "\x1fa\x1f", "a\x0bb"]

    def reference(value: str) -> str | None:
        collapsed = re.sub(r"[\t\n\f\r ]{2,}|[\t\n\r\f\v]", " ", value)  # RE2's \s is [\t\n\f\r ]
        trimmed = collapsed.strip("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
        return trimmed or None

    assert clean_text(pa.array(samples)).to_pylist() == [reference(v) for v in samples]
    # one value at a time too: each array then takes the fast path or the regex on its own
    assert [clean_text(pa.array([v])).to_pylist()[0] for v in samples] == [reference(v) for v in samples]
    clean_only = ["001190012345", "01929", "2026-11-21"] * 10  # the fast path: no regex needed
    assert clean_text(pa.array(clean_only)).to_pylist() == clean_only


def _code_points() -> list[str]:
    """Every code point up to U+3100 (Latin, Vietnamese, combining marks, Unicode spaces, CJK
    punctuation), the other NFC-candidate ranges, and a spread of the rest (no surrogates)."""
    ranges = [range(0, 0x3100), range(0xF900, 0xFB00), range(0xFE00, 0xFF10), range(0x1D150, 0x1D1D0),
              range(0x2F800, 0x2FA20), range(0x3100, 0x10FFFF, 97)]
    return [chr(c) for r in ranges for c in r if not 0xD800 <= c <= 0xDFFF]


def test_clean_text_byte_screen_sends_every_character_that_needs_a_full_step_to_it():
    """The byte screen that lets clean columns skip the NFC, look-alike and whitespace steps must
    raise the alarm for every character one of those steps would change (a false alarm is allowed)."""
    from transforms.text import _alarm_rows, _clean_text_full, _trim_and_null_empty

    missed = []
    for c in _code_points():
        value = pa.array([f"a{c}{c}b"])
        if not len(_alarm_rows(value)) and _clean_text_full(value) != _trim_and_null_empty(value):
            missed.append(hex(ord(c)))
    assert missed == []


def test_clean_text_edge_screen_flags_every_character_the_trim_removes():
    from transforms.text import _edge_space

    chars = _code_points()
    for form in ("{c}ab", "ab{c}", "{c}"):
        values = pa.array([form.format(c=c) for c in chars])
        trimmed = pc.utf8_trim_whitespace(values)
        changed = pc.not_equal(trimmed, values).to_numpy(zero_copy_only=False)
        missed = [hex(ord(c)) for c, hit, flag in zip(chars, changed, _edge_space(values), strict=True) if hit and not flag]
        assert missed == [], form


def test_clean_text_fast_path_equals_the_full_steps_on_mixed_columns():
    """Whole columns (sliced arrays and NULLs included) give the same values on either path."""
    import random

    from transforms.text import _clean_text_full

    rng = random.Random(11)
    alphabet = [*"aăâđêôơưAĐ ỹỵýạảấ019/.-,", "\u00a0", "\u3000", "\x1f", "\u2028", "\u00d0", "\u0301", "  "]
    for _ in range(300):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 12))]
        arr = pa.array([None if rng.random() < 0.1 else v for v in values] + ["x", "y"]).slice(1)
        assert clean_text(arr).to_pylist() == _clean_text_full(arr).to_pylist()
    clean = ["Nguyễn Văn An", "Số 5, Xã Đông", "0123", "", "Lê Thị Thủy", None]
    for _ in range(100):  # a few dirty values among many clean ones: only those take the full steps
        values = [rng.choice(clean) if rng.random() < 0.95 else "".join(rng.choice(alphabet) for _ in range(4))
                  for _ in range(120)]
        arr = pa.array(values).slice(rng.randint(0, 3))
        assert clean_text(arr).to_pylist() == _clean_text_full(arr).to_pylist()


def test_fast_paths_change_nothing_the_general_path_would_give(monkeypatch):
    """Columns that are plain digits of their width, ids without separators, plain integers: the
    shortcuts must give exactly what the general (pattern-based) path gives, on columns that take
    them and on columns that do not."""
    import random

    import transforms.normalize as normalize_module

    rng = random.Random(3)
    contract = load_contract("birth_certificates")
    alphabet = list("0123456789") * 4 + list(" .-+aĐ/") + ["", ".0"]
    tables = []
    for clean in (True, False):
        for _ in range(20):
            n = rng.randint(1, 40)

            def value(width: int | None, clean: bool = clean) -> str | None:
                if rng.random() < 0.1:
                    return None
                k = width or rng.randint(1, 12)
                if clean:
                    return "".join(rng.choice("0123456789") for _ in range(k))
                return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, k + 2)))

            tables.append(pa.table({
                "ma_tinh": [value(2) for _ in range(n)], "ma_xa": [value(5) for _ in range(n)],
                "so_cccd_me": [value(12) for _ in range(n)], "ma_bhxh_me": [value(10) for _ in range(n)],
                "so_con": [value(None) for _ in range(n)], "lan_sinh": [value(1) for _ in range(n)],
                "can_nang": [value(4) for _ in range(n)],
            }))
    fast = [normalize(t, contract, "csv") for t in tables]
    monkeypatch.setattr(normalize_module, "digits_only", lambda *a: False)
    monkeypatch.setattr(normalize_module, "_has_id_separator", lambda arr: True)
    slow = [normalize(t, contract, "csv") for t in tables]
    for a, b in zip(fast, slow, strict=True):
        assert a.table.equals(b.table)
        assert [(f.column, f.rows.tolist()) for f in a.failures] == [(f.column, f.rows.tolist()) for f in b.failures]


def test_a_quantity_in_a_spreadsheets_number_format_says_how_to_write_it():
    """``3.200`` grams (a Vietnamese spreadsheet's thousands separator) is not read as 3.2 or 3200:
    it fails, and the reason says what a quantity must look like; a coded int (sex) says nothing
    about separators."""
    contract = load_contract("birth_certificates")
    raw = pa.table({contract.tag_for("birth_weight_g", "csv"): ["3.200", "3200", "3,200"],
                    contract.tag_for("child_sex", "csv"): ["x", "1", "2"]})
    result = normalize(raw, contract, "csv")
    assert result.table.column("birth_weight_g").to_pylist() == [None, 3200, None]
    reasons = {f.column: (f.reason, list(f.rows)) for f in result.failures
               if f.column in ("birth_weight_g", "child_sex")}
    assert reasons == {
        "birth_weight_g": ("birth_weight_g: value does not parse as int (a whole number in digits only, without "
                           "thousands separators)", [True, False, True]),
        "child_sex": ("child_sex: value does not parse as int", [True, False, False]),
    }

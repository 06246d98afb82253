import datetime as dt
import unicodedata

import pyarrow as pa
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

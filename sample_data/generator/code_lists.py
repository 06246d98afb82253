"""Static reference data of the death-notice, driver-health and workforce datasets.

Kept apart from the logic (like ``reference.py`` for births) so that reviewers can check the
values against ``docs/DOMAIN.md`` (§4 deaths, §5 drivers, §6 workforce, §9 ICD-10) and against
the shared source-format spec of the three datasets.
"""

from __future__ import annotations

from typing import Final

# Facilities added for the three new datasets and the SQL birth source. Codes are 5 digits whose
# first two are a plausible (post-2025) province code. ``kind`` is the registry source_kind;
# ``normalization`` NFD means the facility's files are written in Unicode NFD.
# fmt: off
NEW_FACILITIES: Final[tuple[dict[str, str], ...]] = (
    {"code": "01013", "name": "Bệnh viện Bạch Mai", "province_code": "01", "kind": "file_drop",
     "dataset": "death_notices", "format": "pl02", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "79011", "name": "Bệnh viện Chợ Rẫy", "province_code": "79", "kind": "file_drop",
     "dataset": "death_notices", "format": "csv", "encoding": "utf-8", "normalization": "NFD"},
    {"code": "24009", "name": "Bệnh viện Đa khoa tỉnh Bắc Ninh", "province_code": "24", "kind": "file_drop",
     "dataset": "driver_health_checks", "format": "gksk_jsonl", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "37012", "name": "Bệnh viện Đa khoa tỉnh Ninh Bình", "province_code": "37", "kind": "file_drop",
     "dataset": "driver_health_checks", "format": "csv", "encoding": "cp1258", "normalization": "NFC"},
    {"code": "75440", "name": "Bệnh viện Đa khoa Đồng Nai", "province_code": "75", "kind": "rest_api",
     "dataset": "driver_health_checks", "format": "gksk_api", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "46001", "name": "Bệnh viện Trung ương Huế", "province_code": "46", "kind": "file_drop",
     "dataset": "health_workforce", "format": "csv", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "40003", "name": "Bệnh viện Hữu nghị Đa khoa Nghệ An", "province_code": "40", "kind": "file_drop",
     "dataset": "health_workforce", "format": "json", "encoding": "utf-8", "normalization": "NFD"},
    {"code": "96025", "name": "Bệnh viện Đa khoa tỉnh Cà Mau", "province_code": "96", "kind": "rest_api",
     "dataset": "health_workforce", "format": "json_api", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "22015", "name": "Bệnh viện Sản Nhi Quảng Ninh", "province_code": "22", "kind": "sql",
     "dataset": "birth_certificates", "format": "sql_xml9", "encoding": "utf-8", "normalization": "NFC"},
)
# fmt: on

# The vaccination sources (DOMAIN §17): a FHIR Bulk Data file drop (NDJSON), a FHIR search server,
# and the national vaccination platform's CSV export (registered as one source system, code NIPVN).
# Kept apart from NEW_FACILITIES: the extra population draws homes from that list's provinces, and
# adding entries there would change every other dataset's output.
VACCINATION_FACILITIES: Final[tuple[dict[str, str], ...]] = (
    {"code": "01920", "name": "Trung tâm Kiểm soát bệnh tật Hà Nội", "province_code": "01", "kind": "file_drop",
     "dataset": "vaccination_records", "format": "fhir_ndjson", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "79530", "name": "Trung tâm Y tế khu vực Sài Gòn", "province_code": "79", "kind": "rest_api",
     "dataset": "vaccination_records", "format": "fhir_search", "encoding": "utf-8", "normalization": "NFC"},
    {"code": "NIPVN", "name": "Nền tảng quản lý tiêm chủng quốc gia", "province_code": "01", "kind": "file_drop",
     "dataset": "vaccination_records", "format": "csv", "encoding": "utf-8", "normalization": "NFC"},
)
# Dataset options of the FHIR search facility beyond its path (registry datasets.<ds>.<key>).
FHIR_SEARCH_OPTIONS: Final[tuple[tuple[str, str], ...]] = (("include", "Immunization:patient"),)

# REST facilities: pagination style per facility (one page-numbered, one cursor-based).
REST_PAGINATION: Final[dict[str, str]] = {"75440": "page", "96025": "cursor"}
REST_PATHS: Final[dict[str, str]] = {
    "driver_health_checks": "/api/v1/driver-health-checks",
    "health_workforce": "/api/v1/health-workforce",
    "vaccination_records": "/fhir",  # the FHIR base; the resource type comes from the contract's view
}
SQL_TABLE: Final[str] = "xml9_birth_certificates"
SQL_CURSOR_COLUMN: Final[str] = "UPDATED_AT"

# --------------------------------------------------------------------------- ICD-10 (DOMAIN §9)

# Valid WHO ICD-10 2019 categories/subcategories used as causes of death, with a Vietnamese
# label (BENH_ICD10_TEN) and the cause text of the notice (NGUYENNHAN_TV). Weights ~ frequency.
CAUSES_OF_DEATH: Final[dict[str, tuple[str, int]]] = {
    "I21.9": ("Nhồi máu cơ tim cấp, không đặc hiệu", 14),
    "I63.9": ("Nhồi máu não, không đặc hiệu", 14),
    "I61.9": ("Xuất huyết não, không đặc hiệu", 8),
    "J18.9": ("Viêm phổi, không đặc hiệu", 10),
    "C34.9": ("U ác phế quản hoặc phổi, không đặc hiệu", 8),
    "C22.0": ("Ung thư biểu mô tế bào gan", 6),
    "E11.9": ("Đái tháo đường típ 2 không có biến chứng", 4),
    "K74.6": ("Xơ gan khác và không đặc hiệu", 5),
    "A41.9": ("Nhiễm khuẩn huyết, không đặc hiệu", 6),
    "I10": ("Tăng huyết áp vô căn (nguyên phát)", 5),
    "J44.9": ("Bệnh phổi tắc nghẽn mạn tính, không đặc hiệu", 6),
    "N18.9": ("Bệnh thận mạn, không đặc hiệu", 4),
    "V89.2": ("Người bị thương trong tai nạn giao thông xe có động cơ, không đặc hiệu", 5),
    "R99": ("Nguyên nhân tử vong không xác định và không rõ", 1),
}
# Secondary (contributing) codes that may follow the main one, ``;``-separated.
CONTRIBUTING_CODES: Final[tuple[str, ...]] = ("E11.9", "I10", "N18.9", "J44.9")
# Not WHO ICD-10 categories/subcategories (the D5 defect). I70.00 exists only in the VN list.
INVALID_ICD_CODES: Final[tuple[str, ...]] = ("I70.00", "Z99.99", "ABC")

# --------------------------------------------------------------------------- codes (DOMAIN §7.5, §10)

ID_TYPE_NONE: Final[str] = "0"
UNKNOWN_PERSON_NAME: Final[str] = "KHÔNG RÕ"

# --------------------------------------------------------------------------- driver licences (§5)

NEW_CLASSES: Final[tuple[str, ...]] = (
    "A1", "A", "B1", "B", "C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE",
)  # fmt: skip
LEGACY_CLASSES: Final[tuple[str, ...]] = ("A2", "A3", "A4", "B2", "E", "F", "FB2", "FC", "FD", "FE")
GROUP3_CLASSES: Final[frozenset[str]] = frozenset({"C1", "C", "D1", "D2", "D", "BE", "C1E", "CE", "D1E", "D2E", "DE"})
MIN_AGE: Final[dict[str, int]] = {
    "A1": 18, "A": 18, "B1": 18, "B": 18, "C1": 18, "C": 21, "BE": 21,
    "D1": 24, "D2": 24, "C1E": 24, "CE": 24, "D": 27, "D1E": 27, "D2E": 27, "DE": 27,
}  # fmt: skip
CLASS_WEIGHTS: Final[dict[str, int]] = {
    "A1": 24, "A": 8, "B1": 2, "B": 34, "C1": 8, "C": 8, "D1": 2, "D2": 2, "D": 3,
    "BE": 2, "C1E": 1, "CE": 3, "D1E": 1, "D2E": 1, "DE": 1,
}  # fmt: skip
FIT, UNFIT, FIT_REEXAM = "A0-1", "A0-2", "A0-3"
EXAM_REASONS: Final[tuple[str, ...]] = ("Cấp mới giấy phép lái xe", "Đổi giấy phép lái xe", "Khám sức khỏe định kỳ")
HEALTH_NOTES: Final[dict[str, str]] = {
    FIT: "Đủ sức khỏe lái xe",
    UNFIT: "Không đủ sức khỏe lái xe",
    FIT_REEXAM: "Đủ sức khỏe lái xe, hẹn khám lại",
}

# --------------------------------------------------------------------------- workforce (§6)

# Title -> (weight, practice scopes). Titles are the W1 list (NFC).
TITLES: Final[dict[str, tuple[int, tuple[str, ...]]]] = {
    "Bác sĩ": (30, ("Khám bệnh, chữa bệnh đa khoa", "Nội khoa", "Ngoại khoa", "Sản phụ khoa", "Nhi khoa")),
    "Y sĩ": (6, ("Khám bệnh, chữa bệnh đa khoa",)),
    "Điều dưỡng": (30, ("Điều dưỡng", "Điều dưỡng hồi sức")),
    "Hộ sinh": (8, ("Hộ sinh",)),
    "Kỹ thuật y": (8, ("Xét nghiệm y học", "Hình ảnh y học", "Phục hồi chức năng")),
    "Dinh dưỡng lâm sàng": (2, ("Dinh dưỡng lâm sàng",)),
    "Cấp cứu viên ngoại viện": (2, ("Cấp cứu ngoại viện",)),
    "Tâm lý lâm sàng": (2, ("Tâm lý lâm sàng",)),
    "Lương y": (4, ("Khám bệnh, chữa bệnh bằng y học cổ truyền",)),
    "Dược sĩ": (8, ("Dược lâm sàng", "Quản lý dược")),
}
PHARMACIST: Final[str] = "Dược sĩ"
# Licence families: (number digits, suffix, issuer text).
LICENCES: Final[tuple[tuple[int, str, str], ...]] = (
    (6, "BYT-GPHN", "Bộ Y tế"),
    (6, "HCM-CCHN", "Sở Y tế Thành phố Hồ Chí Minh"),
)
PHARMACY_LICENCE: Final[tuple[int, str, str]] = (5, "HNO-CCHND", "Sở Y tế Thành phố Hà Nội")
INVALID_TITLES: Final[tuple[str, ...]] = ("Phù thủy", "Bac si")
BAD_LICENCE_NUMBERS: Final[tuple[str, ...]] = ("GP-12345", "12345-BYT")

"""Static reference data for the synthetic generator (code lists, name pools, facilities).

Everything here is *data*, kept apart from the logic so that reviewers can check it against
``docs/DOMAIN.md`` line by line. Dictionaries are insertion-ordered and iterated in that order,
which keeps the generator deterministic.
"""

from __future__ import annotations

from typing import Final

# Province-of-birth prefixes of the 12-digit personal identification number (positions 1-3):
# the pre-2025 63-province GSO list, zero-padded to 3 digits. Source: DOMAIN.md §7.1
# ("Province prefixes use the pre-2025 63-province list and will not change after the merger").
ID_PROVINCE_PREFIXES: Final[dict[str, str]] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa–Vũng Tàu",
    "079": "TP Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

# Prefixes that are 3 digits but NOT in the list above (used by the ``id_bad_prefix`` defect).
BAD_ID_PREFIXES: Final[tuple[str, ...]] = ("003", "099", "100", "005", "097", "063")

# The 34 post-2025 provinces (QĐ 19/2025) and the pre-2025 provinces they absorbed, as 2-digit
# codes. Source: DOMAIN.md §8.1. Used to give a citizen a birth province (ID prefix) that is
# plausible for where she lives now.
PROVINCE_PREDECESSORS: Final[dict[str, tuple[str, ...]]] = {
    "01": ("01",),
    "04": ("04",),
    "08": ("08", "02"),
    "11": ("11",),
    "12": ("12",),
    "14": ("14",),
    "15": ("10", "15"),
    "19": ("19", "06"),
    "20": ("20",),
    "22": ("22",),
    "24": ("27", "24"),
    "25": ("25", "26", "17"),
    "31": ("31", "30"),
    "33": ("33", "34"),
    "37": ("37", "35", "36"),
    "38": ("38",),
    "40": ("40",),
    "42": ("42",),
    "44": ("45", "44"),
    "46": ("46",),
    "48": ("48", "49"),
    "51": ("51", "62"),
    "52": ("64", "52"),
    "56": ("56", "58"),
    "66": ("66", "54"),
    "68": ("68", "67", "60"),
    "75": ("75", "70"),
    "79": ("79", "74", "77"),
    "80": ("72", "80"),
    "82": ("87", "82"),
    "86": ("86", "83", "84"),
    "91": ("89", "91"),
    "92": ("92", "94", "93"),
    "96": ("96", "95"),
}

# Facilities of the sample drop. Codes are 5 characters whose first two digits are the
# province (QĐ 384/2019 style); names are realistic but the records are synthetic.
# ``format`` is what the facility sends for birth_certificates; ``encoding`` is the file
# encoding (only the legacy CSV facility differs from UTF-8).
# fmt: off
FACILITIES: Final[tuple[dict[str, str], ...]] = (
    {"code": "01929", "name": "Bệnh viện Phụ sản Hà Nội", "province_code": "01", "format": "xml9", "encoding": "utf-8"},
    {"code": "31011", "name": "Bệnh viện Phụ sản Hải Phòng", "province_code": "31", "format": "csv", "encoding": "utf-8-sig"},
    {"code": "38017", "name": "Bệnh viện Phụ sản Thanh Hóa", "province_code": "38", "format": "csv", "encoding": "cp1258"},
    {"code": "48005", "name": "Bệnh viện Phụ nữ Đà Nẵng", "province_code": "48", "format": "pl02", "encoding": "utf-8"},
    {"code": "79034", "name": "Bệnh viện Từ Dũ", "province_code": "79", "format": "pl02", "encoding": "utf-8"},
    {"code": "92021", "name": "Bệnh viện Phụ sản thành phố Cần Thơ", "province_code": "92", "format": "xml9", "encoding": "utf-8"},
)
# fmt: on

# Family names with rough weights (share of the population, per cent). NFC.
FAMILY_NAMES: Final[dict[str, int]] = {
    "Nguyễn": 38,
    "Trần": 11,
    "Lê": 9,
    "Phạm": 7,
    "Hoàng": 5,
    "Huỳnh": 4,
    "Phan": 4,
    "Vũ": 4,
    "Võ": 3,
    "Đặng": 2,
    "Bùi": 2,
    "Đỗ": 2,
    "Hồ": 2,
    "Ngô": 2,
    "Dương": 1,
    "Lý": 1,
    "Đinh": 1,
    "Trương": 1,
    "Lương": 1,
}

FEMALE_MIDDLE_NAMES: Final[dict[str, int]] = {
    "Thị": 55,
    "Ngọc": 8,
    "Thu": 5,
    "Thanh": 5,
    "Minh": 4,
    "Phương": 3,
    "Bảo": 3,
    "Hồng": 3,
    "Kim": 3,
    "Mai": 3,
    "Diệu": 2,
    "Khánh": 2,
    "Thùy": 2,
    "Hoài": 2,
}

MALE_MIDDLE_NAMES: Final[dict[str, int]] = {
    "Văn": 40,
    "Đức": 10,
    "Minh": 10,
    "Quốc": 7,
    "Hữu": 7,
    "Công": 6,
    "Thành": 5,
    "Anh": 5,
    "Gia": 5,
    "Xuân": 5,
}

# fmt: off
FEMALE_GIVEN_NAMES: Final[tuple[str, ...]] = (
    "Hương", "Lan", "Linh", "Trang", "Hà", "Mai", "Ngọc", "Thảo", "Hằng", "Nhung", "Phương",
    "Hạnh", "Huyền", "Yến", "Vy", "Anh", "Thủy", "Loan", "Dung", "Nga", "Oanh", "Quỳnh",
    "Giang", "Tuyết", "Hiền", "Hoa", "Nhi", "Ly", "Châu", "Uyên", "Trinh", "Xuân", "Thư",
    "Diệp", "Ngân", "My", "Hồng", "Liên", "Thơ", "Hậu",
)

MALE_GIVEN_NAMES: Final[tuple[str, ...]] = (
    "Hùng", "Dũng", "Tuấn", "Nam", "Long", "Minh", "Quân", "Khoa", "Huy", "Đức", "Sơn",
    "Thắng", "Phúc", "Bình", "Cường", "Hải", "Trung", "Việt", "Khang", "Bảo", "An", "Kiên",
    "Đạt", "Lộc", "Tài", "Hiếu", "Nghĩa", "Thịnh", "Vinh", "Toàn",
)
# fmt: on

# Ethnicity codes (QĐ 121-TCTK/PPCĐ, 2 digits, 01 = Kinh; DOMAIN.md §10). Weights in per mille.
ETHNICITY_WEIGHTS: Final[dict[str, int]] = {
    "01": 880,
    "02": 20,
    "03": 20,
    "04": 10,
    "05": 15,
    "06": 15,
    "07": 10,
    "08": 10,
    "09": 8,
    "10": 4,
    "12": 4,
    "17": 2,
    "54": 2,
}
ETHNICITY_UNKNOWN_CODE: Final[str] = "77"  # outside 01..54: the ``unknown_ethnicity`` defect

NATIONALITY_VN: Final[str] = "VNM"
ID_TYPE_CCCD: Final[str] = "1"  # LOAI_GIAYTO 1 = CCCD / căn cước (DOMAIN.md §7.5)
ID_ISSUER: Final[str] = "Cục Cảnh sát quản lý hành chính về trật tự xã hội"

# Health-insurance beneficiary groups a mother plausibly carries (DOMAIN.md §7.4), with the
# benefit level (digit 3) used for each.
INSURANCE_GROUPS: Final[dict[str, str]] = {"GD": "4", "DN": "4", "HC": "4", "HN": "2", "TN": "4", "SV": "4", "CN": "3"}
CHILD_CARD_GROUP: Final[str] = "TE1"

# fmt: off
STREET_PARTS: Final[tuple[str, ...]] = (
    "Đường Lê Lợi", "Đường Trần Hưng Đạo", "Đường Nguyễn Trãi", "Đường Hai Bà Trưng",
    "Đường Lý Thường Kiệt", "Ngõ 12 Đường Láng", "Tổ 5", "Tổ 11", "Thôn Đông", "Thôn Hạ",
    "Ấp 3", "Khu phố 2", "Xóm Mới", "Đường Quang Trung",
)
# fmt: on

CHILD_CONDITIONS: Final[tuple[str, ...]] = ("Khỏe mạnh", "Bình thường", "Trẻ khỏe, Apgar 9 điểm", "Bú tốt")
ATTENDANT_TITLES: Final[tuple[str, ...]] = ("BS.", "NHS.", "HS.")
NOT_WEIGHED: Final[str] = "Không cân"

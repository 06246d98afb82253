"""Birth certificates (giấy chứng sinh): clean records and their three source layouts.

A :class:`BirthRecord` holds one child's certificate as typed, canonical values (the column
names of ``config/datasets/birth_certificates.yaml``). ``overrides`` replaces the rendered text
of a column verbatim (how defects inject values no typed field can hold, such as ``X`` for a
sex code); ``None`` there means the field is absent/empty.

The layouts (:func:`xml9_fields`, :func:`pl02_fields`, :func:`csv_row`) follow the tag order of
the published specifications (DOMAIN §3.2, §3.3) and carry a few tags the contract does not map
(``MA_TTDV``, ``DU_PHONG``, ``NOICAP_CCCD_NND`` ...): readers must ignore unknown tags.

Also the fast benchmark writer (:func:`write_births_csv`; Fast writer of many clean birth rows in the facility CSV format (benchmarks)).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sample_data.generator import reference as ref
from sample_data.generator.bench_common import (
    CHUNK_ROWS,
    CODES_PER_YEAR,
    DEFAULT_END,
    _q,
)
from sample_data.generator.places import address, communes_of, province_codes, province_name
from sample_data.generator.records import PER_NIGHT_SPREAD
from sample_data.generator.registry import (
    NO_INSURANCE,
    Citizen,
    Facility,
    build_facilities,
    health_card,
    make_personal_id,
    random_name,
)
from sample_data.generator.rng import derive_rng, derive_uuid, digits, weighted_choice
from sample_data.generator.writers import (
    LooseStamp,
    Placement,
    RenderedFile,
    csv_text,
    encode_text,
    flat_document,
    giamdinhhs,
    inner_table,
    render_date,
    truncate_markup,
)

DATASET = "birth_certificates"
TWIN_SHARE = 0.03
SURROGACY_SHARE = 0.01
SEX_TEXT = {1: "Nam", 2: "Nữ", 3: "Chưa xác định"}  # csv code system (contract code_map)
CLEAN_WEIGHT_G = (2000, 4500)

# Column typing for rendering.
_DATE_COLUMNS = frozenset({"mother_birth_date", "mother_id_issue_date", "issue_date", "surrogate_mother_birth_date"})
_BOOL_COLUMNS = frozenset({"caesarean", "under_32_weeks", "first_issue"})
_INT_COLUMNS = frozenset({"children_in_delivery", "birth_order", "living_children", "birth_weight_g"})

# CSV header: the contract's csv source names, in contract column order.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ma_gcs", "certificate_code"),
    ("ma_lk", "episode_key"),
    ("ho_ten_me", "mother_full_name"),
    ("ngay_sinh_me", "mother_birth_date"),
    ("dan_toc_me", "mother_ethnicity_code"),
    ("quoc_tich_me", "mother_nationality_code"),
    ("loai_giay_to_me", "mother_id_type"),
    ("so_cccd_me", "mother_id_number"),
    ("ngay_cap_cccd_me", "mother_id_issue_date"),
    ("ma_bhxh_me", "mother_social_insurance_no"),
    ("so_the_bhyt_me", "mother_health_card_no"),
    ("dia_chi_cu_tru", "residence_address"),
    ("ma_tinh", "residence_province_code"),
    ("ma_xa", "residence_commune_code"),
    ("ho_ten_cha", "father_full_name"),
    ("ma_the_tam", "child_temp_card_no"),
    ("ten_con", "child_name"),
    ("gioi_tinh_con", "child_sex"),
    ("so_con", "children_in_delivery"),
    ("lan_sinh", "birth_order"),
    ("so_con_song", "living_children"),
    ("can_nang", "birth_weight_g"),
    ("ngay_gio_sinh", "birth_datetime"),
    ("noi_sinh", "birth_place"),
    ("tinh_trang_con", "child_condition"),
    ("sinh_mo", "caesarean"),
    ("duoi_32_tuan", "under_32_weeks"),
    ("ghi_chu", "notes"),
    ("nguoi_do_de", "birth_attendant"),
    ("nguoi_ghi_phieu", "recorder"),
    ("ngay_cap", "issue_date"),
    ("quyen_so", "book_number"),
    ("cap_lan_dau", "first_issue"),
    ("ho_ten_me_mang_thai_ho", "surrogate_mother_name"),
    ("so_cccd_me_mang_thai_ho", "surrogate_mother_id_number"),
    ("ngay_sinh_me_mang_thai_ho", "surrogate_mother_birth_date"),
)
CSV_HEADER: tuple[str, ...] = tuple(name for name, _ in CSV_COLUMNS)

# Date styles per format and kind.
_STYLES: dict[str, dict[str, str]] = {
    "xml9": {"date": "yyyymmdd", "datetime": "yyyymmddHHMM"},
    "pl02": {"date": "yyyymmdd", "datetime": "yyyymmddHHMMSS"},
    "csv": {"date": "dd/mm/yyyy", "datetime": "dd/mm/yyyy HH:MM"},
}


@dataclass(frozen=True)
class Person:
    """A person who appears on a certificate but is not the mother (father, surrogate, her husband).

    Attributes:
        full_name: name, NFC.
        birth_date: date of birth.
        personal_id: 12-digit ID.
        id_issue_date: ID issue date.
        ethnicity_code: 2-digit ethnicity.
        insurance_no: 10-digit social-insurance code or ``0000000000``.
        health_card_no: health card or ``0000000000``.
        address: residence text.
        province_code: 2-digit residence province.
        commune_code: 5-digit residence commune.
    """

    full_name: str
    birth_date: date
    personal_id: str
    id_issue_date: date
    ethnicity_code: str
    insurance_no: str
    health_card_no: str
    address: str
    province_code: str
    commune_code: str


@dataclass
class BirthRecord:
    """One child's birth certificate as the facility's system holds it (canonical columns).

    Attributes mirror the contract columns; see ``config/datasets/birth_certificates.yaml``.
    Bookkeeping attributes (``defect``, ``expected_*``, ``locked``) feed the ground truth.
    """

    facility_code: str
    night: date
    source_format: str
    element_id: str
    patient_id: str
    sequence: int
    certificate_code: str
    episode_key: str
    mother_full_name: str
    mother_birth_date: date
    mother_ethnicity_code: str
    mother_nationality_code: str
    mother_id_type: str
    mother_id_number: str
    mother_id_issue_date: date | None
    mother_social_insurance_no: str
    mother_health_card_no: str
    residence_address: str
    residence_province_code: str
    residence_commune_code: str
    father: Person | None
    child_temp_card_no: str
    child_name: str
    child_sex: int
    children_in_delivery: int
    birth_order: int
    living_children: int
    birth_weight_g: int
    birth_datetime: datetime | LooseStamp
    birth_place: str
    child_condition: str
    caesarean: bool
    under_32_weeks: bool
    notes: str
    birth_attendant: str
    recorder: str
    issue_date: date
    book_number: str
    first_issue: bool
    surrogate: Person | None
    surrogate_husband: Person | None
    head_insurance_no: str
    head_name: str
    mother_dob_year_only: bool = False
    overrides: dict[str, str | None] = field(default_factory=dict)
    episode_size: int = 1
    defect: str = ""
    expected_rule: str = ""
    expected_action: str = "load"
    locked: bool = False
    file_truncated: bool = False

    @property
    def father_full_name(self) -> str:
        """Father's name, or empty."""
        return self.father.full_name if self.father else ""

    @property
    def surrogate_mother_name(self) -> str:
        """Surrogate's name (Form 02), or empty."""
        return self.surrogate.full_name if self.surrogate else ""

    @property
    def surrogate_mother_id_number(self) -> str:
        """Surrogate's personal ID, or empty."""
        return self.surrogate.personal_id if self.surrogate else ""

    @property
    def surrogate_mother_birth_date(self) -> date | None:
        """Surrogate's date of birth, or None."""
        return self.surrogate.birth_date if self.surrogate else None

    def birth_day(self) -> date:
        """Calendar day of the birth (valid dates only)."""
        assert isinstance(self.birth_datetime, datetime)
        return self.birth_datetime.date()


# --------------------------------------------------------------------------- rendering


def render(record: BirthRecord, column: str, fmt: str) -> str | None:
    """Render one canonical column of a record in a source format.

    Args:
        record: the record.
        column: canonical column name.
        fmt: ``xml9``, ``pl02`` or ``csv``.

    Returns:
        The text the file carries, or None for "absent" (an override of None).
    """
    if column in record.overrides:
        return record.overrides[column]
    value = getattr(record, column)
    styles = _STYLES[fmt]
    if column == "birth_datetime":
        return render_date(value, styles["datetime"])
    if column == "mother_birth_date" and fmt == "pl02" and record.mother_dob_year_only:
        return render_date(value, "yyyy")
    if column in _DATE_COLUMNS:
        return render_date(value, styles["date"])
    if column in _BOOL_COLUMNS:
        return "1" if value else "0"
    if column == "child_sex":
        return SEX_TEXT[value] if fmt == "csv" else str(value)
    if column in _INT_COLUMNS:
        return str(value)
    return str(value)


def _person_fields(prefix_map: dict[str, str], person: Person | None, fmt: str) -> list[tuple[str, str | None]]:
    """Fields of a secondary person in PL02 (suffix groups ``_MTH``, ``_CHA_MTH``, ``_CHA_NND``)."""
    if person is None:
        return []
    values = {
        "MA_BHXH": person.insurance_no,
        "MA_THE": person.health_card_no,
        "HOTEN": person.full_name,
        "HO_TEN": person.full_name,
        "NGAYSINH": render_date(person.birth_date, _STYLES[fmt]["date"]),
        "MA_DANTOC": person.ethnicity_code,
        "MA_QUOCTICH": ref.NATIONALITY_VN,
        "LOAI_GIAYTO": ref.ID_TYPE_CCCD,
        "SO_CCCD": person.personal_id,
        "NGAYCAP_CCCD": render_date(person.id_issue_date, _STYLES[fmt]["date"]),
        "NOICAP_CCCD": ref.ID_ISSUER,
        "NOI_CU_TRU": person.address,
        "MATINH_CU_TRU": person.province_code,
        "MAXA_CU_TRU": person.commune_code,
    }
    return [(tag, values[key]) for tag, key in prefix_map.items()]


_MTH_TAGS = {
    "MA_BHXH_MTH": "MA_BHXH",
    "MA_THE_MTH": "MA_THE",
    "HOTEN_MTH": "HOTEN",
    "NGAYSINH_MTH": "NGAYSINH",
    "MA_DANTOC_MTH": "MA_DANTOC",
    "MA_QUOCTICH_MTH": "MA_QUOCTICH",
    "LOAI_GIAYTO_MTH": "LOAI_GIAYTO",
    "SO_CCCD_MTH": "SO_CCCD",
    "NGAYCAP_CCCD_MTH": "NGAYCAP_CCCD",
    "NOICAP_CCCD_MTH": "NOICAP_CCCD",
    "NOI_CU_TRU_MTH": "NOI_CU_TRU",
    "MATINH_CU_TRU_MTH": "MATINH_CU_TRU",
    "MAXA_CU_TRU_MTH": "MAXA_CU_TRU",
}
_CHA_MTH_TAGS = {
    "HO_TEN_CHA_MTH": "HO_TEN",
    "NGAYSINH_CHA_MTH": "NGAYSINH",
    "MA_DANTOC_CHA_MTH": "MA_DANTOC",
    "NOI_CU_TRU_CHA_MTH": "NOI_CU_TRU",
    "MATINH_CU_TRU_CHA_MTH": "MATINH_CU_TRU",
    "MAXA_CU_TRU_CHA_MTH": "MAXA_CU_TRU",
    "LOAI_GIAYTO_CHA_MTH": "LOAI_GIAYTO",
    "SO_CCCD_CHA_MTH": "SO_CCCD",
    "NGAYCAP_CCCD_CHA_MTH": "NGAYCAP_CCCD",
    "NOICAP_CCCD_CHA_MTH": "NOICAP_CCCD",
}
_CHA_NND_TAGS = {
    "NGAYSINH_CHA_NND": "NGAYSINH",
    "MA_DANTOC_CHA_NND": "MA_DANTOC",
    "LOAI_GIAYTO_CHA_NND": "LOAI_GIAYTO",
    "SO_CCCD_CHA_NND": "SO_CCCD",
    "NGAYCAP_CCCD_CHA_NND": "NGAYCAP_CCCD",
    "NOICAP_CCCD_CHA_NND": "NOICAP_CCCD",
}


def xml9_fields(r: BirthRecord) -> list[tuple[str, str | None]]:
    """The ``DU_LIEU_GIAY_CHUNG_SINH`` children of one child (QĐ 130/3176 table 9, DOMAIN §3.2).

    Args:
        r: the record.

    Returns:
        ``(tag, text)`` pairs in specification order.
    """

    def v(column: str) -> str | None:
        return render(r, column, "xml9")

    return [
        ("MA_LK", v("episode_key")),
        ("MA_BHXH_NND", v("mother_social_insurance_no")),
        ("MA_THE_NND", v("mother_health_card_no")),
        ("HO_TEN_NND", v("mother_full_name")),
        ("NGAYSINH_NND", v("mother_birth_date")),
        ("MA_DANTOC_NND", v("mother_ethnicity_code")),
        ("SO_CCCD_NND", v("mother_id_number")),
        ("NGAYCAP_CCCD_NND", v("mother_id_issue_date")),
        ("NOICAP_CCCD_NND", ref.ID_ISSUER),
        ("NOI_CU_TRU_NND", v("residence_address")),
        ("MA_QUOCTICH", v("mother_nationality_code")),
        ("MATINH_CU_TRU", v("residence_province_code")),
        ("MAHUYEN_CU_TRU", ""),  # districts abolished 01/07/2025: sent empty
        ("MAXA_CU_TRU", v("residence_commune_code")),
        ("HO_TEN_CHA", v("father_full_name")),
        ("MA_THE_TAM", v("child_temp_card_no")),
        ("HO_TEN_CON", v("child_name")),
        ("GIOI_TINH_CON", v("child_sex")),
        ("SO_CON", v("children_in_delivery")),
        ("LAN_SINH", v("birth_order")),
        ("SO_CON_SONG", v("living_children")),
        ("CAN_NANG_CON", v("birth_weight_g")),
        ("NGAY_SINH_CON", v("birth_datetime")),
        ("NOI_SINH_CON", v("birth_place")),
        ("TINH_TRANG_CON", v("child_condition")),
        ("SINHCON_PHAUTHUAT", v("caesarean")),
        ("SINHCON_DUOI32TUAN", v("under_32_weeks")),
        ("GHI_CHU", v("notes")),
        ("NGUOI_DO_DE", v("birth_attendant")),
        ("NGUOI_GHI_PHIEU", v("recorder")),
        ("NGAY_CT", v("issue_date")),
        ("SO", v("certificate_code")),
        ("QUYEN_SO", v("book_number")),
        ("MA_TTDV", r.head_insurance_no),
        ("DU_PHONG", ""),
    ]


def pl02_fields(r: BirthRecord) -> list[tuple[str, str | None]]:
    """The ``GIAYCHUNGSINH`` children of one certificate (PL02 2025, DOMAIN §3.3).

    The surrogacy groups (``_MTH``, ``_CHA_MTH``) are sent only for Form 02 certificates and
    then complete; the ``_CHA_NND`` group only when the father is known.

    Args:
        r: the record.

    Returns:
        ``(tag, text)`` pairs in specification order.
    """

    def v(column: str) -> str | None:
        return render(r, column, "pl02")

    fields: list[tuple[str, str | None]] = [
        ("MA_GCS", v("certificate_code")),
        ("MA_BN", r.patient_id),
        ("MA_CT", ""),
        ("SO_SERI", ""),
        ("MA_BHXH_NND", v("mother_social_insurance_no")),
        ("MA_THE_NND", v("mother_health_card_no")),
        ("HOTEN_NND", v("mother_full_name")),
        ("NGAYSINH_NND", v("mother_birth_date")),
        ("MA_DANTOC_NND", v("mother_ethnicity_code")),
        ("MA_QUOCTICH_NND", v("mother_nationality_code")),
        ("LOAI_GIAYTO_NND", v("mother_id_type")),
        ("SO_CCCD_NND", v("mother_id_number")),
        ("NGAYCAP_CCCD_NND", v("mother_id_issue_date")),
        ("NOICAP_CCCD_NND", ref.ID_ISSUER),
        ("NOI_CU_TRU_NND", v("residence_address")),
        ("MATINH_CU_TRU", v("residence_province_code")),
        ("MAHUYEN_CU_TRU", ""),
        ("MAXA_CU_TRU", v("residence_commune_code")),
        ("HO_TEN_CHA", v("father_full_name")),
        ("MA_THE_TAM", v("child_temp_card_no")),
        ("TEN_CON", v("child_name")),
        ("GIOI_TINH_CON", v("child_sex")),
        ("SO_CON", v("children_in_delivery")),
        ("LAN_SINH", v("birth_order")),
        ("SO_CON_SONG", v("living_children")),
        ("CAN_NANG_CON", v("birth_weight_g")),
        ("NGAY_SINH_CON", v("birth_datetime")),
        ("NOI_SINH_CON", v("birth_place")),
        ("TINH_TRANG_CON", v("child_condition")),
        ("SINHCON_PHAUTHUAT", v("caesarean")),
        ("SINHCON_DUOI32TUAN", v("under_32_weeks")),
        ("GHI_CHU", v("notes")),
        ("NGUOI_DO_DE", v("birth_attendant")),
        ("NGUOI_GHI_PHIEU", v("recorder")),
        ("MA_TTDV", r.head_insurance_no),
        ("THU_TRUONG_DVI", r.head_name),
        ("NGAY_CT", v("issue_date")),
        ("SO", v("certificate_code")),
        ("QUYEN_SO", v("book_number")),
    ]
    fields += _person_fields(_MTH_TAGS, r.surrogate, "pl02")
    fields += _person_fields(_CHA_MTH_TAGS, r.surrogate_husband, "pl02")
    fields += _person_fields(_CHA_NND_TAGS, r.father, "pl02")
    fields.append(("CAP_LAN_DAU", v("first_issue")))
    return fields


def csv_row(r: BirthRecord) -> list[str]:
    """One CSV row (FACILITY-CSV-1), columns as :data:`CSV_HEADER`.

    Args:
        r: the record.

    Returns:
        The values; absent values become empty strings.
    """
    return [render(r, column, "csv") or "" for _, column in CSV_COLUMNS]


# --------------------------------------------------------------------------- generation


def certificate_code(sequence: int, facility_code: str, issue_year: int) -> str:
    """The 18-character certificate code ``XXXXX.GCS.ZZZZZ.YY`` (DOMAIN §3.1).

    Args:
        sequence: running number within the issue year at the facility (1-99999).
        facility_code: 5-character facility code.
        issue_year: year of the issue date.

    Returns:
        The code.
    """
    return f"{sequence:05d}.GCS.{facility_code}.{issue_year % 100:02d}"


def book_number(sequence: int, issue_year: int) -> str:
    """Book (quyển số) holding a certificate: 200 certificates per book, numbered per year."""
    return f"{(sequence - 1) // 200 + 1:02d}/{issue_year}"


class MotherPool:
    """Hands out each eligible woman at most once per run (nobody gives birth twice in a week).

    Women are grouped by home province; a facility draws 85 % of its mothers from its own
    province and the rest from anywhere.
    """

    def __init__(self, citizens: list[Citizen], seed: int) -> None:
        """Build the pool.

        Args:
            citizens: the population slice (any order).
            seed: run seed.
        """
        rng = derive_rng(seed, "mother-pool")
        women = [c for c in citizens if c.sex == 2 and c.id_issue_date is not None]
        self._by_province: dict[str, list[Citizen]] = {}
        for c in sorted(women, key=lambda c: c.personal_id):
            self._by_province.setdefault(c.home_province, []).append(c)
        for code in sorted(self._by_province):
            rng.shuffle(self._by_province[code])
        self._rng = rng

    def take(self, province_code: str, birth_day: date) -> Citizen:
        """Take an unused woman aged 16-45 on ``birth_day``.

        Args:
            province_code: preferred home province.
            birth_day: day of the birth.

        Returns:
            The mother.

        Raises:
            RuntimeError: the pool is exhausted (raise the citizen count).
        """
        order = [province_code] if self._rng.random() < 0.85 else []
        order += sorted(self._by_province, key=lambda p: (self._rng.random(), p))
        for code in order:
            bucket = self._by_province.get(code, [])
            for i in range(len(bucket) - 1, -1, -1):
                if 16 <= bucket[i].age_on(birth_day) <= 45:
                    return bucket.pop(i)
        raise RuntimeError("mother pool exhausted: generate more citizens")


@dataclass
class RunContext:
    """State shared by all facility-nights of one run."""

    seed: int
    start: date
    per_night: int
    mothers: MotherPool
    counters: dict[tuple[str, int], int] = field(default_factory=dict)

    def next_sequence(self, facility_code: str, issue_year: int) -> int:
        """Next running number of a facility in a year (starting where a real year would be)."""
        key = (facility_code, issue_year)
        if key not in self.counters:
            if issue_year == self.start.year:
                elapsed = (self.start - date(issue_year, 1, 1)).days
                rng = derive_rng(self.seed, "sequence-start", facility_code)
                self.counters[key] = min(elapsed * self.per_night, 60000) + rng.randrange(50)
            else:
                self.counters[key] = 0
        self.counters[key] += 1
        return self.counters[key]


def _person(rng: random.Random, sex: int, birth_date: date, province_code: str, family: str | None = None) -> Person:
    """A person who is not in the registry (father, surrogate's husband), with a valid ID."""
    prefix = "0" + rng.choice(ref.PROVINCE_PREDECESSORS[province_code])
    commune = rng.choice(communes_of(province_code))
    insurance = digits(rng, 10)
    return Person(
        full_name=random_name(rng, sex, family),
        birth_date=birth_date,
        personal_id=make_personal_id(rng, prefix, birth_date, sex),
        id_issue_date=date(min(max(birth_date.year + 14, 2021), 2024), 1 + rng.randrange(12), 1 + rng.randrange(28)),
        ethnicity_code=weighted_choice(rng, ref.ETHNICITY_WEIGHTS),
        insurance_no=insurance,
        health_card_no=f"GD4{province_code}{insurance}",
        address=address(rng, commune.name, province_code),
        province_code=province_code,
        commune_code=commune.code,
    )


def _citizen_person(rng: random.Random, c: Citizen) -> Person:
    commune = rng.choice(communes_of(c.home_province))
    assert c.id_issue_date is not None
    return Person(
        full_name=c.full_name,
        birth_date=c.birth_date,
        personal_id=c.personal_id,
        id_issue_date=c.id_issue_date,
        ethnicity_code=weighted_choice(rng, ref.ETHNICITY_WEIGHTS),
        insurance_no=c.social_insurance_no,
        health_card_no=c.health_card_no,
        address=address(rng, commune.name, c.home_province),
        province_code=c.home_province,
        commune_code=commune.code,
    )




def _weight(rng: random.Random, twin: bool) -> int:
    mean, sd, low, high = (2550, 260, 2000, 3200) if twin else (3150, 380, 2300, 4300)
    grams = min(max(rng.gauss(mean, sd), low), high)
    step = 50 if rng.random() < 0.7 else 10
    return int(round(grams / step) * step)


def _episode(ctx: RunContext, facility: Facility, night: date, index: int, rng: random.Random) -> list[BirthRecord]:
    """One delivery episode (one mother, one or two children) delivered on ``night``."""
    fmt = facility.feed(DATASET).format
    days_before = weighted_choice(rng, {0: 30, 1: 35, 2: 20, 3: 15})
    birth_day = night - timedelta(days=days_before)
    size = 2 if rng.random() < TWIN_SHARE else 1
    last_hour = 19 if days_before == 0 else 22  # room for a twin a few minutes later, same day
    first_birth = datetime(
        birth_day.year, birth_day.month, birth_day.day, rng.randrange(last_hour + 1), rng.randrange(60)
    )
    issue_date = night if rng.random() < 0.6 else birth_day + timedelta(days=rng.randrange(days_before + 1))

    mother = ctx.mothers.take(facility.province_code, birth_day)
    province = mother.home_province
    commune = rng.choice(communes_of(province))
    has_father = rng.random() < 0.85
    father = None
    if has_father:
        gap_days = rng.randrange(3650)  # father as old as the mother or up to 10 years older
        father_province = province if rng.random() < 0.8 else rng.choice(province_codes())
        father = _person(rng, 1, mother.birth_date - timedelta(days=gap_days), father_province)
    surrogate = surrogate_husband = None
    if fmt != "xml9" and size == 1 and rng.random() < SURROGACY_SHARE:
        surrogate = _citizen_person(rng, ctx.mothers.take(facility.province_code, birth_day))
        surrogate_husband = _person(
            rng, 1, surrogate.birth_date - timedelta(days=rng.randrange(3650)), surrogate.province_code
        )
    family_for_child = (father.full_name if father else mother.full_name).split(" ")[0]
    birth_order = weighted_choice(rng, {1: 45, 2: 38, 3: 13, 4: 4})
    caesarean = rng.random() < 0.35
    ethnicity = weighted_choice(rng, ref.ETHNICITY_WEIGHTS)
    name = mother.full_name.upper() if fmt == "pl02" else mother.full_name
    episode_key = f"{facility.code}{night:%y%m%d}{index:04d}"
    patient_id = digits(rng, 10)

    records: list[BirthRecord] = []
    for child in range(size):
        sex = 1 if rng.random() < 0.515 else 2
        born = first_birth + timedelta(minutes=child * (2 + rng.randrange(14)))
        records.append(
            BirthRecord(
                facility_code=facility.code,
                night=night,
                source_format=fmt,
                element_id=f"Id-{derive_uuid(rng)}",
                patient_id=patient_id,
                sequence=0,
                certificate_code="",
                episode_key=episode_key,
                mother_full_name=name,
                mother_birth_date=mother.birth_date,
                mother_ethnicity_code=ethnicity,
                mother_nationality_code=ref.NATIONALITY_VN,
                mother_id_type=ref.ID_TYPE_CCCD,
                mother_id_number=mother.personal_id,
                mother_id_issue_date=mother.id_issue_date,
                mother_social_insurance_no=mother.social_insurance_no,
                mother_health_card_no=mother.health_card_no,
                residence_address=address(rng, commune.name, province),
                residence_province_code=province,
                residence_commune_code=commune.code,
                father=father,
                child_temp_card_no=f"{ref.CHILD_CARD_GROUP}{province}{digits(rng, 10)}" if rng.random() < 0.4 else "",
                child_name=random_name(rng, sex, family_for_child) if rng.random() < 0.5 else "",
                child_sex=sex,
                children_in_delivery=size,
                birth_order=birth_order,
                living_children=birth_order - 1 + size,
                birth_weight_g=_weight(rng, size > 1),
                birth_datetime=born,
                birth_place=facility.name,
                child_condition=rng.choice(ref.CHILD_CONDITIONS),
                caesarean=caesarean,
                under_32_weeks=False,
                notes="Sinh mổ" if caesarean else ("Sinh đôi" if size > 1 else ""),
                birth_attendant=rng.choice(facility.attendants),
                recorder=rng.choice(facility.recorders),
                issue_date=issue_date,
                book_number="",
                first_issue=True,
                surrogate=surrogate,
                surrogate_husband=surrogate_husband,
                head_insurance_no=facility.head_insurance_no,
                head_name=facility.head_name,
                mother_dob_year_only=fmt == "pl02" and rng.random() < 0.05,
                episode_size=size,
            )
        )
    return records


def night_volume(seed: int, facility_code: str, night: date, per_night: int) -> int:
    """How many certificates a facility sends on a night: ``per_night`` ±30 %, deterministic.

    Args:
        seed: run seed.
        facility_code: facility.
        night: delivery night.
        per_night: the average.

    Returns:
        The target number of certificates (at least 1).
    """
    rng = derive_rng(seed, "volume", facility_code, night.isoformat())
    return max(1, round(per_night * (1 - PER_NIGHT_SPREAD + 2 * PER_NIGHT_SPREAD * rng.random())))


def plan_night(ctx: RunContext, facility: Facility, night: date) -> list[list[BirthRecord]]:
    """Generate the clean episodes a facility delivers on one night.

    Episodes are ordered by birth time; certificate codes are assigned in that order from the
    facility's running number of the issue year.

    Args:
        ctx: run state.
        facility: the facility.
        night: the delivery night (local date, Asia/Ho_Chi_Minh).

    Returns:
        Episodes (lists of one record per child).
    """
    rng = derive_rng(ctx.seed, "night", facility.code, night.isoformat())
    target = night_volume(ctx.seed, facility.code, night, ctx.per_night)
    episodes: list[list[BirthRecord]] = []
    children = 0
    while children < target:
        episode = _episode(ctx, facility, night, len(episodes) + 1, rng)
        episodes.append(episode)
        children += len(episode)
    episodes.sort(key=lambda e: (e[0].birth_datetime, e[0].episode_key))
    for episode in episodes:
        for record in episode:
            assign_code(ctx, record)
    return episodes


def assign_code(ctx: RunContext, record: BirthRecord) -> None:
    """Give a record the next running number of its facility and issue year.

    Args:
        ctx: run state (holds the counters).
        record: the record; ``sequence``, ``certificate_code`` and ``book_number`` are set.
    """
    year = record.issue_date.year
    record.sequence = ctx.next_sequence(record.facility_code, year)
    record.certificate_code = certificate_code(record.sequence, record.facility_code, year)
    record.book_number = book_number(record.sequence, year)


@dataclass
class NightBatch:
    """What one facility delivers for one dataset on one night, before serialisation.

    Attributes:
        facility: the facility.
        night: the delivery night (local date).
        units: the groups in document order: one per ``HOSO`` in XML9 (an episode, or a
            re-sent copy), consecutive rows in CSV, one file per record in PL02.
        locked: no record-level defect may be injected (file-level defect batches).
    """

    facility: Facility
    night: date
    units: list[list[BirthRecord]]
    locked: bool = False

    @property
    def format(self) -> str:
        """Source format of the batch."""
        return self.facility.feed(DATASET).format

    @property
    def encoding(self) -> str:
        """File encoding of the batch."""
        return self.facility.feed(DATASET).encoding

    def records(self) -> list[BirthRecord]:
        """All records in document order."""
        return [r for unit in self.units for r in unit]


def is_clean_weight(grams: int) -> bool:
    """Whether a weight lies in the range clean records use (2,000-4,500 g)."""
    return CLEAN_WEIGHT_G[0] <= grams <= CLEAN_WEIGHT_G[1]


def render_batch(batch: NightBatch, versions: dict[str, int], seed: int) -> list[RenderedFile]:
    """Serialise one facility-night batch into the files of the drop.

    * ``xml9``: one ``GIAMDINHHS_<facility>_<YYYYMMDD>.xml`` per night, one ``HOSO`` per unit.
    * ``pl02``: one ``HSDLGCS_<code>_<n>.xml`` per record; ``n`` counts the versions of a code
      sent by the facility so far in the run (1 = first, 2 = a re-send or re-issue ...).
    * ``csv``: one ``giay_chung_sinh_<facility>_<YYYYMMDD>.csv`` per night.

    Args:
        batch: the batch.
        versions: certificate code -> files already sent for it by this facility (updated).
        seed: run seed (drives where truncated files are cut).

    Returns:
        The files with the placement of every record.
    """
    folder = f"{batch.facility.code}/{DATASET}/{batch.night.isoformat()}"
    stamp_ = batch.night.strftime("%Y%m%d")
    rng = derive_rng(seed, "truncate", batch.facility.code, batch.night.isoformat())
    records = batch.records()
    if batch.format == "xml9":
        placements: list[tuple[object, Placement]] = []
        hosos: list[list[tuple[str, bytes]]] = []
        for i, unit in enumerate(batch.units, start=1):
            items = [xml9_fields(r) for r in unit]
            hosos.append(
                [
                    (
                        "XML9",
                        inner_table(
                            "CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH", "DSACH_GIAYCHUNGSINH", "DU_LIEU_GIAY_CHUNG_SINH", items
                        ),
                    )
                ]
            )
            for j, r in enumerate(unit, start=1):
                placements.append((r, Placement(f"HOSO[{i}]/DU_LIEU_GIAY_CHUNG_SINH[{j}]", (i, j))))
        text = giamdinhhs(batch.facility.code, batch.night, hosos)
        if any(r.file_truncated for r in records):
            text = truncate_markup(text, rng)
        name = f"GIAMDINHHS_{batch.facility.code}_{stamp_}.xml"
        return [RenderedFile(f"{folder}/{name}", encode_text(text, "utf-8"), placements)]
    if batch.format == "pl02":
        files: list[RenderedFile] = []
        for r in records:
            versions[r.certificate_code] = versions.get(r.certificate_code, 0) + 1
            text = flat_document("HSDLGCS", "GIAYCHUNGSINH", r.element_id, pl02_fields(r))
            if r.file_truncated:
                text = truncate_markup(text, rng)
            name = f"HSDLGCS_{r.certificate_code}_{versions[r.certificate_code]}.xml"
            files.append(
                RenderedFile(f"{folder}/{name}", encode_text(text, "utf-8"), [(r, Placement("GIAYCHUNGSINH[1]", (1,)))])
            )
        return files
    if batch.format == "csv":
        text = csv_text(CSV_HEADER, [csv_row(r) for r in records])
        name = f"giay_chung_sinh_{batch.facility.code}_{stamp_}.csv"
        placed: list[tuple[object, Placement]] = [
            (r, Placement(f"row {n}", (n,))) for n, r in enumerate(records, start=1)
        ]
        return [RenderedFile(f"{folder}/{name}", encode_text(text, batch.encoding), placed)]
    raise ValueError(f"unknown format {batch.format!r}")


def _mother_pool(rng: random.Random, year: int, size: int, provinces: list[str]) -> list[str]:
    """Pre-rendered CSV fragments of mothers (columns ho_ten_me .. ma_xa) for births in ``year``."""
    prefixes = list(ref.ID_PROVINCE_PREFIXES)
    pool: list[str] = []
    for _ in range(size):
        born = date(year - 18 - rng.randrange(24), 1 + rng.randrange(12), 1 + rng.randrange(28))
        province = rng.choice(provinces)
        commune = rng.choice(communes_of(province))
        personal_id = make_personal_id(rng, rng.choice(prefixes), born, 2)
        issued = date(max(born.year + 14, year - 8), 1 + rng.randrange(12), 1 + rng.randrange(28))
        issued = min(issued, date(year - 1, 12, 31))
        if rng.random() < 0.9:
            insurance = digits(rng, 10)
            card = health_card("GD", "4", province, insurance)
        else:
            insurance = card = NO_INSURANCE
        address = (
            f"Số {1 + rng.randrange(199)}, {rng.choice(ref.STREET_PARTS)}, {commune.name}, {province_name(province)}"
        )
        pool.append(
            ",".join(
                [
                    _q(random_name(rng, 2)),
                    born.strftime("%d/%m/%Y"),
                    weighted_choice(rng, ref.ETHNICITY_WEIGHTS),
                    ref.NATIONALITY_VN,
                    ref.ID_TYPE_CCCD,
                    personal_id,
                    issued.strftime("%d/%m/%Y"),
                    insurance,
                    card,
                    _q(address),
                    province,
                    commune.code,
                ]
            )
        )
    return pool


def write_births_csv(
    path: Path,
    n_rows: int,
    seed: int = 6,
    *,
    facility_code: str = "31011",
    encoding: str = "utf-8",
    end: date = DEFAULT_END,
) -> int:
    """Write ``n_rows`` clean birth-certificate rows in the facility CSV format.

    Header and value formats are those of the sample drop's CSV facilities (contract source
    ``csv``): dates ``dd/MM/yyyy``, birth ``dd/MM/yyyy HH:mm``, sex ``Nam``/``Nữ``. Rows are
    in issue order; certificate codes and episode keys are unique. Deterministic for a
    given seed; memory does not grow with ``n_rows`` (chunks of 20,000 rows).

    Args:
        path: output file (parent folders are created).
        n_rows: number of data rows.
        seed: seed of every random draw.
        facility_code: the issuing facility (middle part of the codes).
        encoding: ``utf-8`` (default), ``utf-8-sig`` or ``cp1258``.
        end: last issue date.

    Returns:
        The number of data rows written.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be >= 0")
    rng = derive_rng(seed, "bench", facility_code)
    facility = next((f for f in build_facilities(seed) if f.code == facility_code), None)
    place = facility.name if facility else f"Cơ sở {facility_code}"
    staff = list(facility.attendants) if facility else [f"BS. {random_name(rng, 2)}" for _ in range(6)]
    recorders = list(facility.recorders) if facility else [random_name(rng, 2) for _ in range(3)]
    home = facility.province_code if facility else "01"
    provinces = [home] * 6 + ["01", "79", "31", "48", "92", "38", "24", "37"]

    years = max(1, math.ceil(n_rows / CODES_PER_YEAR))
    per_year = math.ceil(n_rows / years) if n_rows else 0
    first_year = end.year - years + 1
    times = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
    fathers = [_q(random_name(rng, 1)) for _ in range(1024)]
    conditions = [_q(c) for c in ref.CHILD_CONDITIONS]
    place_q, staff_q, recorders_q = _q(place), [_q(s) for s in staff], [_q(r) for r in recorders]
    sex_text = [SEX_TEXT[1], SEX_TEXT[2]]

    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as fh:
        fh.write(encode_text(",".join(CSV_HEADER) + "\r\n", encoding))
        for y in range(years):
            year = first_year + y
            rows_this_year = min(per_year, n_rows - written)
            if rows_this_year <= 0:
                break
            year_start = date(year, 1, 4)  # births may be up to 3 days earlier, same year
            last_day = end if year == end.year else date(year, 12, 31)
            span = (last_day - year_start).days + 1
            days = [year_start + timedelta(days=d) for d in range(span)]
            day_text = [d.strftime("%d/%m/%Y") for d in days]
            mothers = _mother_pool(rng, year, min(rows_this_year, 20_000), provinces)
            n_mothers = len(mothers)
            yy = f"{year % 100:02d}"
            chunk: list[str] = []
            for i in range(rows_this_year):
                seq = i + 1
                issue_index = (i * span) // rows_this_year
                birth_index = max(0, issue_index - rng.randrange(4))
                sex = rng.randrange(2)
                birth_order = 1 + int(rng.random() * 2.6)
                caesarean = rng.random() < 0.35
                weight = 50 * int(min(max(rng.gauss(3150, 380), 2300), 4300) / 50)
                father = fathers[rng.randrange(1024)]
                has_father = rng.random() < 0.85
                row = ",".join(
                    [
                        f"{seq:05d}.GCS.{facility_code}.{yy}",
                        f"{facility_code}{yy}{seq:06d}",
                        mothers[rng.randrange(n_mothers)],
                        father if has_father else "",
                        f"TE1{home}{rng.randrange(10**10):010d}" if rng.random() < 0.4 else "",
                        "",
                        sex_text[sex],
                        "1",
                        str(birth_order),
                        str(birth_order),
                        str(weight),
                        f"{day_text[birth_index]} {times[rng.randrange(1440)]}",
                        place_q,
                        conditions[rng.randrange(len(conditions))],
                        "1" if caesarean else "0",
                        "0",
                        "Sinh mổ" if caesarean else "",
                        staff_q[rng.randrange(len(staff_q))],
                        recorders_q[rng.randrange(len(recorders_q))],
                        day_text[issue_index],
                        f"{(seq - 1) // 200 + 1:02d}/{year}",
                        "1",
                        "",
                        "",
                        "",
                    ]
                )
                chunk.append(row)
                if len(chunk) >= CHUNK_ROWS:
                    fh.write(encode_text("\r\n".join(chunk) + "\r\n", encoding))
                    chunk.clear()
            if chunk:
                fh.write(encode_text("\r\n".join(chunk) + "\r\n", encoding))
            written += rows_this_year
    return written

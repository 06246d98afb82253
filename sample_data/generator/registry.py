"""Synthetic citizens (a slice of the national population database) and facilities.

Both are dataset-independent: birth certificates draw their mothers from the citizens, and a
future death-notice generator would draw the deceased from the same list.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta

from sample_data.generator import reference as ref
from sample_data.generator.places import province_codes
from sample_data.generator.rng import derive_rng, digits, weighted_choice

DEFAULT_CITIZENS = 2000
CITIZEN_COLUMNS = ("personal_id", "full_name", "birth_date", "sex", "death_date", "province_of_birth")
FACILITY_COLUMNS = (
    "code",
    "name",
    "province_code",
    "source_kind",
    "birth_certificates_format",
    "birth_certificates_encoding",
)
NO_INSURANCE = "0000000000"  # "ten zeros" = no social-insurance / health-card number (DOMAIN §3.1)

# Age windows (years at the reference date) of the three groups of the synthetic population.
_MOTHER_AGES = (16, 45)
_OTHER_FEMALE_AGES = ((0, 15), (46, 85))
_MALE_AGES = (0, 85)


@dataclass(frozen=True)
class Citizen:
    """One synthetic person of the population database.

    Attributes:
        personal_id: 12-digit personal identification number (DOMAIN §7.1).
        full_name: full name, NFC, title case.
        birth_date: date of birth.
        sex: 1 male, 2 female.
        province_of_birth: 3-digit province-of-birth code (= ``personal_id[:3]``).
        home_province: 2-digit post-2025 province of residence (not in the registry CSV).
        id_issue_date: date the ID card was issued; None for children under 14.
        social_insurance_no: 10-digit social-insurance code, or ``0000000000`` for none.
        health_card_no: 15-char health-insurance card number, or ``0000000000`` for none.
    """

    personal_id: str
    full_name: str
    birth_date: date
    sex: int
    province_of_birth: str
    home_province: str
    id_issue_date: date | None
    social_insurance_no: str
    health_card_no: str

    def age_on(self, day: date) -> int:
        """Age in completed years on ``day``.

        Args:
            day: the date to measure at.

        Returns:
            Completed years.
        """
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


@dataclass(frozen=True)
class Feed:
    """What a facility sends for one dataset.

    Attributes:
        dataset: dataset id, e.g. ``birth_certificates``.
        format: source format key of the dataset contract (``xml9``, ``pl02``, ``csv``).
        encoding: file encoding as written (``utf-8``, ``utf-8-sig``, ``cp1258``).
    """

    dataset: str
    format: str
    encoding: str


@dataclass(frozen=True)
class Facility:
    """A health facility that drops files.

    Attributes:
        code: 5-character facility code (first two digits = province).
        name: Vietnamese name.
        province_code: 2-digit post-2025 province code.
        feeds: what it sends, one entry per dataset.
        head_insurance_no: 10-digit social-insurance code of the head of facility (XML9 ``MA_TTDV``).
        head_name: name of the head of facility (PL02 ``THU_TRUONG_DVI``).
        attendants: birth attendants with their title ("NHS. Trần Thị Lan").
        recorders: staff who fill the form.
    """

    code: str
    name: str
    province_code: str
    feeds: tuple[Feed, ...]
    head_insurance_no: str
    head_name: str
    attendants: tuple[str, ...]
    recorders: tuple[str, ...]

    def feed(self, dataset: str) -> Feed:
        """The feed of ``dataset``.

        Args:
            dataset: dataset id.

        Returns:
            The facility's feed for it.

        Raises:
            KeyError: the facility does not send this dataset.
        """
        for feed in self.feeds:
            if feed.dataset == dataset:
                return feed
        raise KeyError(f"facility {self.code} does not send {dataset}")


def random_name(rng: random.Random, sex: int, family: str | None = None) -> str:
    """Draw a Vietnamese full name (family, middle, given), NFC.

    Args:
        rng: the stream to draw from.
        sex: 1 male, 2 female.
        family: family name to use instead of drawing one.

    Returns:
        The full name in title case.
    """
    family = family or weighted_choice(rng, ref.FAMILY_NAMES)
    if sex == 1:
        middle = weighted_choice(rng, ref.MALE_MIDDLE_NAMES)
        given = rng.choice(ref.MALE_GIVEN_NAMES)
    else:
        middle = weighted_choice(rng, ref.FEMALE_MIDDLE_NAMES)
        given = rng.choice(ref.FEMALE_GIVEN_NAMES)
    if given == middle:
        given = rng.choice(ref.MALE_GIVEN_NAMES if sex == 1 else ref.FEMALE_GIVEN_NAMES)
    return f"{family} {middle} {given}"


def make_personal_id(rng: random.Random, prefix: str, birth_date: date, sex: int) -> str:
    """Build a 12-digit personal ID with the real structure (DOMAIN §7.1).

    Args:
        rng: the stream for the 6 random digits.
        prefix: 3-digit province-of-birth code.
        birth_date: date of birth (gives the century and the two year digits).
        sex: 1 male, 2 female.

    Returns:
        ``prefix + century/sex digit + YY + 6 random digits``.
    """
    century_sex = 2 * ((birth_date.year - 1900) // 100) + (1 if sex == 2 else 0)
    return f"{prefix}{century_sex}{birth_date.year % 100:02d}{digits(rng, 6)}"


def health_card(group: str, level: str, province_code: str, insurance_no: str) -> str:
    """Compose a 15-character health-insurance card number (DOMAIN §7.4).

    Args:
        group: 2-letter beneficiary group.
        level: benefit level digit 1-5.
        province_code: 2-digit province code.
        insurance_no: 10-digit social-insurance code.

    Returns:
        ``group + level + province + insurance_no``.
    """
    return f"{group}{level}{province_code}{insurance_no}"


def _birth_date_for_age(rng: random.Random, reference_date: date, ages: tuple[int, int]) -> date:
    """Draw a birth date so that the age at ``reference_date`` falls in ``ages`` (inclusive)."""
    youngest = reference_date - timedelta(days=int(365.25 * ages[0]) + 1)
    span_days = int(365.25 * (ages[1] - ages[0] + 1)) - 2
    return youngest - timedelta(days=rng.randrange(span_days))


def build_citizens(seed: int, reference_date: date, count: int = DEFAULT_CITIZENS) -> list[Citizen]:
    """Generate the synthetic population slice.

    About 72 % are women of child-bearing age (16-45 at ``reference_date``) because they are the
    mothers of the birth certificates; the rest are other women and men of all ages.

    Args:
        seed: run seed.
        reference_date: date the ages refer to (the first delivery night).
        count: number of citizens.

    Returns:
        Citizens sorted by personal ID (IDs are unique).
    """
    rng = derive_rng(seed, "citizens")
    facility_provinces = [f["province_code"] for f in ref.FACILITIES]
    all_provinces = province_codes()
    prefixes = list(ref.ID_PROVINCE_PREFIXES)
    seen: set[str] = set()
    citizens: list[Citizen] = []
    for i in range(count):
        share = i / count
        if share < 0.72:
            sex, ages = 2, _MOTHER_AGES
        elif share < 0.82:
            sex, ages = 2, _OTHER_FEMALE_AGES[int(rng.random() < 0.5)]
        else:
            sex, ages = 1, _MALE_AGES
        birth_date = _birth_date_for_age(rng, reference_date, ages)
        home = rng.choice(facility_provinces) if rng.random() < 0.75 else rng.choice(all_provinces)
        # Mostly born in a predecessor of the province she lives in now; otherwise anywhere.
        prefix = "0" + rng.choice(ref.PROVINCE_PREDECESSORS[home]) if rng.random() < 0.8 else rng.choice(prefixes)
        personal_id = make_personal_id(rng, prefix, birth_date, sex)
        while personal_id in seen:
            personal_id = make_personal_id(rng, prefix, birth_date, sex)
        seen.add(personal_id)
        adult_from = date(birth_date.year + 14, birth_date.month, min(birth_date.day, 28))
        id_issue: date | None = None
        if adult_from < reference_date - timedelta(days=60):
            first = max(adult_from, date(2016, 1, 1))
            window = (reference_date - timedelta(days=30) - first).days
            id_issue = first + timedelta(days=rng.randrange(max(window, 1)))
        if rng.random() < 0.9:
            insurance_no = digits(rng, 10)
            while insurance_no == NO_INSURANCE:
                insurance_no = digits(rng, 10)
            group = weighted_choice(rng, {g: 1 for g in ref.INSURANCE_GROUPS})
            card = health_card(group, ref.INSURANCE_GROUPS[group], home, insurance_no)
        else:
            insurance_no, card = NO_INSURANCE, NO_INSURANCE
        citizens.append(
            Citizen(
                personal_id=personal_id,
                full_name=random_name(rng, sex),
                birth_date=birth_date,
                sex=sex,
                province_of_birth=prefix,
                home_province=home,
                id_issue_date=id_issue,
                social_insurance_no=insurance_no,
                health_card_no=card,
            )
        )
    return sorted(citizens, key=lambda c: c.personal_id)


def build_facilities(seed: int) -> list[Facility]:
    """The facilities of the sample drop (``reference.FACILITIES``) with generated staff.

    Args:
        seed: run seed (staff names and the head's insurance code depend on it).

    Returns:
        Facilities sorted by code.
    """
    out: list[Facility] = []
    for spec in sorted(ref.FACILITIES, key=lambda f: f["code"]):
        rng = derive_rng(seed, "facility", spec["code"])
        attendants = tuple(
            f"{rng.choice(ref.ATTENDANT_TITLES)} {random_name(rng, 2 if rng.random() < 0.8 else 1)}" for _ in range(6)
        )
        recorders = tuple(random_name(rng, 2) for _ in range(3))
        out.append(
            Facility(
                code=spec["code"],
                name=spec["name"],
                province_code=spec["province_code"],
                feeds=(Feed(dataset="birth_certificates", format=spec["format"], encoding=spec["encoding"]),),
                head_insurance_no=digits(rng, 10),
                head_name=random_name(rng, 1 if rng.random() < 0.5 else 2),
                attendants=attendants,
                recorders=recorders,
            )
        )
    return out


def citizens_csv(citizens: list[Citizen]) -> str:
    """Render ``reference/citizen_registry.csv``.

    Args:
        citizens: the population slice.

    Returns:
        CSV text (header + one row per citizen, LF line ends).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CITIZEN_COLUMNS)
    for c in citizens:
        writer.writerow([c.personal_id, c.full_name, c.birth_date.isoformat(), str(c.sex), "", c.province_of_birth])
    return buf.getvalue()


def _registry_encoding(feed: Feed) -> str:
    """The encoding to declare in the registry: only a legacy code page needs declaring."""
    return feed.encoding if feed.encoding == "cp1258" else ""


def facilities_csv(facilities: list[Facility]) -> str:
    """Render ``reference/facilities.csv`` (one row per facility).

    Args:
        facilities: the facilities.

    Returns:
        CSV text. ``birth_certificates_encoding`` is empty unless the registry declares one.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FACILITY_COLUMNS)
    for f in facilities:
        feed = f.feed("birth_certificates")
        writer.writerow([f.code, f.name, f.province_code, "file_drop", feed.format, _registry_encoding(feed)])
    return buf.getvalue()


REGISTRY_HEADER = """\
# Facility / source registry of the Scheme 06 pipeline.
#
# GENERATED by `python -m sample_data.generator --out <dir> --registry-out config/facilities.yaml`
# (sample_data/generator/registry.py): the facilities of the synthetic sample drop. Edit the
# generator, not this file, while the sample facilities are the only ones.
#
# One entry per facility (or source system). Keys:
#   code           - 5-character facility code (BHXH "mã cơ sở KCB", QĐ 384/2019); the first two
#                    digits are the province. Quoted: leading zeros are data.
#   name           - facility name in Vietnamese (NFC). Display only.
#   province_code  - 2-digit post-2025 province code (QĐ 19/2025) of the facility. Quoted.
#   source_kind    - how the pipeline gets the data: file_drop (files under
#                    drop/<code>/<dataset>/<YYYY-MM-DD>/), rest_api or sql.
#   datasets       - dataset id -> what the facility sends for it:
#     format       - the source format key of the dataset contract
#                    (config/datasets/<dataset>.yaml `source_formats`): xml9 (GIAMDINHHS claim
#                    envelope, one file per night), pl02 (HSDLGCS, one file per certificate),
#                    csv (facility export, one file per night).
#     encoding     - optional file encoding (auto | utf-8 | utf-8-sig | cp1258); absent = auto
#                    (a BOM wins, then strict UTF-8, else Windows-1258).
# No secrets here: a facility that needs credentials would name an Airflow conn_id.
"""


def registry_yaml(facilities: list[Facility]) -> str:
    """Render the facility registry YAML with its explanatory header comment.

    Written by hand rather than with ``yaml.dump`` so that the comments survive and the bytes
    are stable.

    Args:
        facilities: the facilities.

    Returns:
        YAML text.
    """
    lines = [REGISTRY_HEADER.rstrip("\n"), "facilities:"]
    for f in facilities:
        lines.append(f'  - code: "{f.code}"')
        lines.append(f'    name: "{f.name}"')
        lines.append(f'    province_code: "{f.province_code}"')
        lines.append("    source_kind: file_drop")
        lines.append("    datasets:")
        for feed in f.feeds:
            encoding = _registry_encoding(feed)
            extra = f", encoding: {encoding}" if encoding else ""
            lines.append(f"      {feed.dataset}: {{format: {feed.format}{extra}}}")
    return "\n".join(lines) + "\n"

"""Synthetic citizens (a slice of the national population database) and facilities.

Both are dataset-independent: birth certificates draw their mothers from the citizens, and a
future death-notice generator would draw the deceased from the same list.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sample_data.generator import code_lists as cl
from sample_data.generator import reference as ref
from sample_data.generator.places import province_codes
from sample_data.generator.rng import derive_rng, digits, weighted_choice

DEFAULT_CITIZENS = 2000
CITIZEN_COLUMNS = ("personal_id", "full_name", "birth_date", "sex", "death_date", "province_of_birth")
FACILITY_COLUMNS = ("code", "name", "province_code", "source_kind", "dataset", "format", "encoding")
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
        death_date: date of death recorded in the registry, None when alive (cross-dataset
            rules X1-X3 use it).
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
    death_date: date | None = None

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
        normalization: Unicode form of the text as written (``NFC``, or ``NFD`` for a facility
            whose export tool decomposes).
        path: REST endpoint path (``rest_api`` facilities).
        table: source table (``sql`` facilities).
        cursor_column: incremental-extraction column of ``table``.
    """

    dataset: str
    format: str
    encoding: str
    normalization: str = "NFC"
    path: str = ""
    table: str = ""
    cursor_column: str = ""


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
        source_kind: ``file_drop``, ``rest_api`` or ``sql``.
        conn_id: Airflow connection id of a ``rest_api``/``sql`` source (empty for file drops).
        options: facility-level source options, in registry order.
    """

    code: str
    name: str
    province_code: str
    feeds: tuple[Feed, ...]
    head_insurance_no: str
    head_name: str
    attendants: tuple[str, ...]
    recorders: tuple[str, ...]
    source_kind: str = "file_drop"
    conn_id: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def sends(self, dataset: str) -> bool:
        """Whether the facility sends ``dataset``."""
        return any(feed.dataset == dataset for feed in self.feeds)

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


def _feed_of(spec: dict[str, str]) -> Feed:
    """The feed of one ``code_lists.NEW_FACILITIES`` entry."""
    return Feed(
        dataset=spec["dataset"],
        format=spec["format"],
        encoding=spec["encoding"],
        normalization=spec["normalization"],
        path=cl.REST_PATHS.get(spec["dataset"], "") if spec["kind"] == "rest_api" else "",
        table=cl.SQL_TABLE if spec["kind"] == "sql" else "",
        cursor_column=cl.SQL_CURSOR_COLUMN if spec["kind"] == "sql" else "",
    )


def _options_of(spec: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Facility-level source options of a REST or SQL facility (registry ``options:``)."""
    if spec["kind"] == "rest_api":
        return (("pagination", cl.REST_PAGINATION[spec["code"]]), ("page_size", "50"), ("timeout_s", "10"))
    if spec["kind"] == "sql":
        return (("chunk_rows", "500"),)
    return ()


def build_facilities(seed: int) -> list[Facility]:
    """The facilities of the sample data with generated staff.

    The six birth-certificate file drops (``reference.FACILITIES``) and the facilities of the
    other datasets and source kinds (``code_lists.NEW_FACILITIES``). Each facility's staff come
    from its own random stream, so adding facilities changes nobody else's.

    Args:
        seed: run seed (staff names and the head's insurance code depend on it).

    Returns:
        Facilities sorted by code.
    """
    specs: list[tuple[dict[str, str], Feed]] = [
        (spec, Feed(dataset="birth_certificates", format=spec["format"], encoding=spec["encoding"]))
        for spec in ref.FACILITIES
    ]
    specs += [(spec, _feed_of(spec)) for spec in cl.NEW_FACILITIES]
    out: list[Facility] = []
    for spec, feed in sorted(specs, key=lambda item: item[0]["code"]):
        rng = derive_rng(seed, "facility", spec["code"])
        attendants = tuple(
            f"{rng.choice(ref.ATTENDANT_TITLES)} {random_name(rng, 2 if rng.random() < 0.8 else 1)}" for _ in range(6)
        )
        recorders = tuple(random_name(rng, 2) for _ in range(3))
        kind = spec.get("kind", "file_drop")
        out.append(
            Facility(
                code=spec["code"],
                name=spec["name"],
                province_code=spec["province_code"],
                feeds=(feed,),
                head_insurance_no=digits(rng, 10),
                head_name=random_name(rng, 1 if rng.random() < 0.5 else 2),
                attendants=attendants,
                recorders=recorders,
                source_kind=kind,
                conn_id=f"s06_fac_{spec['code']}" if kind != "file_drop" else "",
                options=_options_of(spec) if kind != "file_drop" else (),
            )
        )
    return out


@dataclass
class ExtraPopulation:
    """Citizens added for the datasets beyond the file-drop births, one list per role.

    They are generated from their own stream after the original slice, so the mothers of the
    six birth file drops (and therefore their files) do not change.

    Attributes:
        mothers: women 16-45, mothers of the SQL birth source.
        deceased: adults who die in the death notices (registry death date empty).
        drivers: adults 18-70 who take driver health checks.
        practitioners: adults 24-64 registered as health workers.
        registry_dead: women 20-40 whose registry death date is already set (X1, X2, X3).
        male_in_registry: citizens whose ID says female but whose registry sex is male (X4).
    """

    mothers: list[Citizen]
    deceased: list[Citizen]
    drivers: list[Citizen]
    practitioners: list[Citizen]
    registry_dead: list[Citizen]
    male_in_registry: list[Citizen]

    def all(self) -> list[Citizen]:
        """Every extra citizen."""
        return (
            self.mothers
            + self.deceased
            + self.drivers
            + self.practitioners
            + self.registry_dead
            + self.male_in_registry
        )


def _extra_citizen(
    rng: random.Random,
    reference_date: date,
    seen: set[str],
    sex: int,
    ages: tuple[int, int],
    *,
    id_sex: int | None = None,
    death_date: date | None = None,
) -> Citizen:
    """One adult citizen (ID card issued) of the extra population."""
    facility_provinces = [f["province_code"] for f in ref.FACILITIES] + [f["province_code"] for f in cl.NEW_FACILITIES]
    birth_date = _birth_date_for_age(rng, reference_date, ages)
    home = rng.choice(facility_provinces) if rng.random() < 0.75 else rng.choice(province_codes())
    prefix = "0" + rng.choice(ref.PROVINCE_PREDECESSORS[home])
    personal_id = make_personal_id(rng, prefix, birth_date, id_sex or sex)
    while personal_id in seen:
        personal_id = make_personal_id(rng, prefix, birth_date, id_sex or sex)
    seen.add(personal_id)
    first = max(date(birth_date.year + 14, birth_date.month, min(birth_date.day, 28)), date(2016, 1, 1))
    last = min(reference_date - timedelta(days=400), date(2024, 6, 30))
    id_issue = first + timedelta(days=rng.randrange(max((last - first).days, 1)))
    insurance_no = digits(rng, 10)
    group = weighted_choice(rng, {g: 1 for g in ref.INSURANCE_GROUPS})
    return Citizen(
        personal_id=personal_id,
        full_name=random_name(rng, id_sex or sex),
        birth_date=birth_date,
        sex=sex,
        province_of_birth=prefix,
        home_province=home,
        id_issue_date=id_issue,
        social_insurance_no=insurance_no,
        health_card_no=health_card(group, ref.INSURANCE_GROUPS[group], home, insurance_no),
        death_date=death_date,
    )


def build_extra_citizens(
    seed: int, reference_date: date, taken: set[str], per_role: int, mothers: int
) -> ExtraPopulation:
    """Generate the extra population (see :class:`ExtraPopulation`).

    Args:
        seed: run seed.
        reference_date: date the ages refer to (the first delivery night).
        taken: personal IDs already in use (the original slice); updated.
        per_role: citizens per role list (deceased, drivers, practitioners).
        mothers: women for the SQL birth source.

    Returns:
        The role lists, each sorted by personal ID.
    """
    rng = derive_rng(seed, "citizens-extra")

    def many(n: int, make: Callable[[], Citizen]) -> list[Citizen]:
        return sorted((make() for _ in range(n)), key=lambda c: c.personal_id)

    def sex_of(share_male: float) -> int:
        return 1 if rng.random() < share_male else 2

    def dead_before() -> date:
        return reference_date - timedelta(days=60 + rng.randrange(300))

    return ExtraPopulation(
        mothers=many(mothers, lambda: _extra_citizen(rng, reference_date, taken, 2, (18, 42))),
        deceased=many(per_role, lambda: _extra_citizen(rng, reference_date, taken, sex_of(0.55), (45, 92))),
        drivers=many(per_role, lambda: _extra_citizen(rng, reference_date, taken, sex_of(0.75), (18, 68))),
        practitioners=many(per_role, lambda: _extra_citizen(rng, reference_date, taken, sex_of(0.35), (26, 62))),
        registry_dead=many(
            16, lambda: _extra_citizen(rng, reference_date, taken, 2, (24, 40), death_date=dead_before())
        ),
        male_in_registry=many(6, lambda: _extra_citizen(rng, reference_date, taken, 1, (22, 40), id_sex=2)),
    )


def citizens_csv(citizens: list[Citizen]) -> str:
    """Render ``reference/citizen_registry.csv`` (rows sorted by personal ID).

    Args:
        citizens: the population slice.

    Returns:
        CSV text (header + one row per citizen, LF line ends).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CITIZEN_COLUMNS)
    for c in sorted(citizens, key=lambda c: c.personal_id):
        death = c.death_date.isoformat() if c.death_date else ""
        writer.writerow([c.personal_id, c.full_name, c.birth_date.isoformat(), str(c.sex), death, c.province_of_birth])
    return buf.getvalue()


def _registry_encoding(feed: Feed) -> str:
    """The encoding to declare in the registry: only a legacy code page needs declaring."""
    return feed.encoding if feed.encoding == "cp1258" else ""


def facilities_csv(facilities: list[Facility]) -> str:
    """Render ``reference/facilities.csv`` (one row per facility and dataset it sends).

    Args:
        facilities: the facilities.

    Returns:
        CSV text. ``encoding`` is empty unless the registry declares one.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FACILITY_COLUMNS)
    for f in facilities:
        for feed in f.feeds:
            writer.writerow(
                [f.code, f.name, f.province_code, f.source_kind, feed.dataset, feed.format, _registry_encoding(feed)]
            )
    return buf.getvalue()


REGISTRY_HEADER = """\
# Facility / source registry of the SAMPLE facility systems (the demo, the tests, `make` targets).
#
# GENERATED by `python -m sample_data.generator --out <dir> --registry-out sample_data/facilities.yaml`
# (sample_data/generator/registry.py): edit the generator, not this file. The production registry
# is config/facilities.yaml (hand-edited); S06_FACILITIES_FILE chooses which one a process reads.
#
# One entry per facility (or source system). Keys:
#   code           - 5-character facility code (BHXH "mã cơ sở KCB", QĐ 384/2019); the first two
#                    digits are the province. Quoted: leading zeros are data.
#   name           - facility name in Vietnamese (NFC). Display only.
#   province_code  - 2-digit post-2025 province code (QĐ 19/2025) of the facility. Quoted.
#   source_kind    - how the pipeline gets the data: file_drop (files under
#                    drop/<code>/<dataset>/<YYYY-MM-DD>/), rest_api (the facility's HTTP API,
#                    records filtered by their updated_at) or sql (a table of the facility's
#                    database, read incrementally on a cursor column).
#   conn_id        - rest_api / sql only: the Airflow connection id holding the base URL or the
#                    database URL and any credentials (s06_fac_<code>). No secrets in this file.
#   options        - rest_api / sql only: facility-level source options.
#                    rest_api: pagination (page = ?page=N&page_size=M, cursor = ?cursor=<token>
#                    from the previous page), page_size (records per page), timeout_s (seconds
#                    per HTTP request). sql: chunk_rows (rows fetched per round trip).
#   datasets       - dataset id -> what the facility sends for it:
#     format       - the source format key of the dataset contract
#                    (config/datasets/<dataset>.yaml `source_formats`):
#                    birth_certificates: xml9 (GIAMDINHHS claim envelope, one file per night),
#                    pl02 (HSDLGCS, one file per certificate), csv (facility export, one file
#                    per night), sql_xml9 (XML9 columns in a database table);
#                    death_notices: pl02 (HSDLGBT, one file per notice), csv;
#                    driver_health_checks: gksk_jsonl (one gksk JSON object per line), csv,
#                    gksk_api (gksk objects from a REST API);
#                    health_workforce: csv, json (register export, one file per night),
#                    json_api (the same objects from a REST API).
#     encoding     - optional file encoding (auto | utf-8 | utf-8-sig | cp1258); absent = auto
#                    (a BOM wins, then strict UTF-8, else Windows-1258).
#     path         - rest_api only: endpoint path under the connection's base URL.
#     table        - sql only: the table to read.
#     cursor_column - sql only: the column of the incremental cursor (local time
#                    YYYY-MM-DD HH:MM:SS, Asia/Ho_Chi_Minh).
#     key_column   - sql only (optional): the row's key, reported as the record's position
#                    (ROW_ID=17) in quarantine and ledgers.
"""


def _flow(items: list[tuple[str, str]]) -> str:
    """A YAML flow mapping of plain scalars: ``{a: 1, b: x}``."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"


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
        lines.append(f"    source_kind: {f.source_kind}")
        if f.conn_id:
            lines.append(f"    conn_id: {f.conn_id}")
        if f.options:
            lines.append(f"    options: {_flow(list(f.options))}")
        lines.append("    datasets:")
        for feed in f.feeds:
            items = [("format", feed.format)]
            encoding = _registry_encoding(feed)
            if encoding:
                items.append(("encoding", encoding))
            if feed.path:
                items.append(("path", feed.path))
            if feed.table:
                items += [("table", feed.table), ("cursor_column", feed.cursor_column), ("key_column", "ROW_ID")]
            lines.append(f"      {feed.dataset}: {_flow(items)}")
    return "\n".join(lines) + "\n"

"""Tests of the synthetic-data generator (``sample_data.generator``).

The strongest test here is an independent *oracle*: the drop is parsed with the standard
library only, mapped to canonical columns through the dataset contract, and the rules of the
brief (B1-B9, A3, REQ, DUP, FILE) are applied from scratch. Every ground-truth row must get
exactly the rule and action the oracle derives - so the ground truth is consistent with the
files and with the rules, not merely with itself.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from vietnam_provinces import ProvinceCode, Ward

from sample_data.generator import GenerationSummary, generate, write_births_csv
from sample_data.generator.datasets import birth_certificates_records as bench
from sample_data.generator.datasets.birth_certificates_defects import CATALOGUE
from sample_data.generator.datasets.birth_certificates_sql import table_rows
from sample_data.generator.ground_truth import format_counts_table, read_csv
from sample_data.generator.reference import FACILITIES, ID_PROVINCE_PREFIXES
from sample_data.generator.run import facility_formats
from sample_data.generator.writers import to_cp1258_form

REPO = Path(__file__).resolve().parents[2]
CONTRACT = yaml.safe_load((REPO / "config/datasets/birth_certificates.yaml").read_text(encoding="utf-8"))
START = date(2026, 11, 21)
SQL_FACILITY = "22015"
SQL_SOURCE = f"sql/{SQL_FACILITY}/xml9_birth_certificates"
FORMATS = {f["code"]: f["format"] for f in FACILITIES} | {SQL_FACILITY: "xml9"}  # SQL columns = XML9 tags
ENCODINGS = {f["code"]: f["encoding"] for f in FACILITIES}
BIRTH_DROPS = {f["code"] for f in FACILITIES}
CODE_RE = re.compile(r"^\d{5}\.GCS\.([0-9A-Z]{5})\.(\d{2})$")
CARD_RE = re.compile(r"^[A-Z]{2}[1-5]\d{12}$")
COMMUNES = {
    f"{int(pc.value):02d}": {f"{int(w.code.value):05d}" for w in Ward.iter_by_province(pc)} for pc in ProvinceCode
}
SEX_MAP = CONTRACT["columns"]["child_sex"]["code_map"]["csv"]


def facility_of(source_file: str) -> str:
    """Facility of a ground-truth source_file (drop path or ``sql/<facility>/<table>``)."""
    return SQL_FACILITY if source_file == SQL_SOURCE else source_file.split("/")[0]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary, float]:
    out = tmp_path_factory.mktemp("default")
    began = time.perf_counter()
    summary = generate(out, START, 3, seed=6, registry_out=out / "facilities.yaml.out")
    return out, summary, time.perf_counter() - began


@pytest.fixture(scope="module")
def truth(default_run: tuple[Path, GenerationSummary, float]) -> list[dict[str, str]]:
    rows = read_csv(default_run[0] / "ground_truth/birth_certificates.csv")
    for row in rows:
        row["certificate_code"] = row["record_key"]
    return rows


@pytest.fixture(scope="module")
def parsed(default_run: tuple[Path, GenerationSummary, float], truth: list[dict[str, str]]) -> dict[str, Any]:
    """Every file of the drop parsed with the stdlib: file -> list of (source_ref, canonical record)."""
    out = default_run[0]
    files: dict[str, list[tuple[str, dict[str, str]]] | None] = {}
    for path in sorted((out / "drop").rglob("*.*")):
        rel = path.relative_to(out / "drop").as_posix()
        if rel.split("/")[1] == "birth_certificates":
            files[rel] = parse_file(path, rel.split("/")[0])
    files[SQL_SOURCE] = [
        (f"ROW_ID={row['ROW_ID']}", {**_canonical(row, "xml9"), "_night": str(row["UPDATED_AT"])[:10]})
        for row in table_rows(out, SQL_FACILITY)
    ]
    return files


@pytest.fixture(scope="module")
def registry(default_run: tuple[Path, GenerationSummary, float]) -> dict[str, dict[str, str]]:
    with (default_run[0] / "reference/citizen_registry.csv").open(encoding="utf-8", newline="") as fh:
        return {row["personal_id"]: row for row in csv.DictReader(fh)}


# --------------------------------------------------------------------------- stdlib parsing


def _canonical(raw: dict[str, str], fmt: str) -> dict[str, str]:
    """Source tags -> canonical columns (NFC, stripped); tags absent from the file are absent here."""
    rec: dict[str, str] = {}
    for column, spec in CONTRACT["columns"].items():
        tag = spec["sources"].get(fmt)
        if tag is not None and tag in raw:
            rec[column] = unicodedata.normalize("NFC", raw[tag] or "").strip()
    rec["_tags"] = ",".join(sorted(raw))
    return rec


def parse_file(path: Path, facility: str) -> list[tuple[str, dict[str, str]]] | None:
    """Parse one drop file; None when the file is not readable (must be a rejected file)."""
    fmt = FORMATS[facility]
    try:
        if fmt == "csv":
            text = path.read_bytes().decode("cp1258" if ENCODINGS[facility] == "cp1258" else "utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
            return [(f"row {n}", _canonical(row, fmt)) for n, row in enumerate(rows, start=1)]
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    if fmt == "pl02":
        assert root.tag == "HSDLGCS"
        elements = root.findall("GIAYCHUNGSINH")
        assert len(elements) == 1
        assert re.match(r"^Id-[0-9a-f-]{36}$", elements[0].get("Id", ""))
        raw = {child.tag: child.text or "" for child in elements[0]}
        return [("GIAYCHUNGSINH[1]", _canonical(raw, fmt))]
    assert root.tag == "GIAMDINHHS"
    assert root.findtext("THONGTINDONVI/MACSKCB") == facility
    out: list[tuple[str, dict[str, str]]] = []
    hosos = root.findall("THONGTINHOSO/DANHSACHHOSO/HOSO")
    assert int(root.findtext("THONGTINHOSO/SOLUONGHOSO") or -1) == len(hosos)
    for i, hoso in enumerate(hosos, start=1):
        for filehoso in hoso.findall("FILEHOSO"):
            assert filehoso.findtext("LOAIHOSO") == "XML9"
            inner = ET.fromstring(base64.b64decode(filehoso.findtext("NOIDUNGFILE") or "", validate=True))
            assert inner.tag == "CHI_TIEU_DU_LIEU_GIAY_CHUNG_SINH"
            for j, item in enumerate(inner.findall("DSACH_GIAYCHUNGSINH/DU_LIEU_GIAY_CHUNG_SINH"), start=1):
                raw = {child.tag: child.text or "" for child in item}
                out.append((f"HOSO[{i}]/DU_LIEU_GIAY_CHUNG_SINH[{j}]", _canonical(raw, "xml9")))
    return out


def parse_date(text: str, fmt: str, year_only: bool = False) -> date | None:
    try:
        if fmt == "csv":
            return datetime.strptime(text, "%d/%m/%Y").date() if re.fullmatch(r"\d{2}/\d{2}/\d{4}", text) else None
        if year_only and re.fullmatch(r"\d{4}", text):
            return date(int(text), 1, 1)
        return datetime.strptime(text, "%Y%m%d").date() if re.fullmatch(r"\d{8}", text) else None
    except ValueError:
        return None


def parse_datetime(text: str, fmt: str) -> datetime | None:
    pattern = {
        "xml9": (r"\d{12}", "%Y%m%d%H%M"),
        "pl02": (r"\d{14}", "%Y%m%d%H%M%S"),
        "csv": (r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", "%d/%m/%Y %H:%M"),
    }[fmt]
    if not re.fullmatch(pattern[0], text):
        return None
    try:
        return datetime.strptime(text, pattern[1])
    except ValueError:
        return None


# --------------------------------------------------------------------------- the oracle


def record_violations(
    rec: dict[str, str], fmt: str, facility: str, night: date, registry: dict[str, dict[str, str]] | None = None
) -> set[tuple[str, str]]:
    """Record-level rules of the brief: a set of (rule, action)."""
    found: set[tuple[str, str]] = set()
    q = "quarantine"
    if not rec.get("mother_full_name") or not rec.get("birth_datetime") or not rec.get("certificate_code"):
        return {("REQ", q)}
    issue = parse_date(rec.get("issue_date", ""), fmt)
    m = CODE_RE.match(rec["certificate_code"])
    if not m or m.group(1) != facility or (issue is not None and m.group(2) != f"{issue.year % 100:02d}"):
        found.add(("B1", q))
    born = parse_datetime(rec["birth_datetime"], fmt)
    if born is None or issue is None or born.date() > night or issue < born.date():
        found.add(("B2", q))
    sex = SEX_MAP.get(rec.get("child_sex", "").upper()) if fmt == "csv" else rec.get("child_sex")
    if str(sex) not in {"1", "2", "3"}:
        found.add(("B3", q))
    eth = rec.get("mother_ethnicity_code", "")
    if not (re.fullmatch(r"\d{2}", eth) and 1 <= int(eth) <= 54):
        found.add(("B3", q))
    for column in ("caesarean", "under_32_weeks"):
        if rec.get(column) not in {"0", "1"}:
            found.add(("B3", q))
    weight = rec.get("birth_weight_g", "")
    if weight.upper() != "KHÔNG CÂN":
        if not weight.isdigit() or not 300 <= int(weight) <= 7000:
            found.add(("B4", q))
        elif not 500 <= int(weight) <= 6000:
            found.add(("B4", "flag"))
    pid = rec.get("mother_id_number", "")
    dob = parse_date(rec.get("mother_birth_date", ""), fmt, year_only=fmt == "pl02")
    if not re.fullmatch(r"\d{12}", pid) or pid[:3] not in ID_PROVINCE_PREFIXES:
        found.add(("B7", q))
    elif int(pid[3]) % 2 == 0 or dob is None or 1900 + 100 * (int(pid[3]) // 2) + int(pid[4:6]) != dob.year:
        found.add(("B7", "flag"))
    bhxh, card = rec.get("mother_social_insurance_no", ""), rec.get("mother_health_card_no", "")
    if (
        not re.fullmatch(r"\d{10}", bhxh)
        or (card not in ("0000000000", "000000000000000") and not CARD_RE.match(card))
        or (bhxh != "0000000000" and card[-10:] != bhxh)
    ):
        found.add(("B8", q))
    province, commune = rec.get("residence_province_code", ""), rec.get("residence_commune_code", "")
    if province not in COMMUNES or commune not in COMMUNES[province]:
        found.add(("A3", q))
    citizen = (registry or {}).get(pid)
    if citizen is not None and born is not None:
        if citizen["sex"] == "1":
            found.add(("X4", "flag"))
        if citizen["death_date"] and date.fromisoformat(citizen["death_date"]) < born.date():
            found.add(("X3", "flag"))
    return found


def oracle(
    parsed: dict[str, Any], registry: dict[str, dict[str, str]] | None = None
) -> dict[tuple[str, str], tuple[str, str]]:
    """(source_file, source_ref) -> (rule, action) derived from the files (and table) alone."""
    result: dict[tuple[str, str], tuple[str, str]] = {}
    batches: dict[tuple[str, str], list[tuple[str, str, dict[str, str]]]] = defaultdict(list)
    for rel, records in parsed.items():
        if records is None:
            continue
        for ref_, rec in records:
            if rel == SQL_SOURCE:
                facility, night = SQL_FACILITY, rec["_night"]
            else:
                facility, _, night, _ = rel.split("/")
            batches[(facility, night)].append((rel, ref_, rec))
    for (facility, night_text), items in batches.items():
        fmt, night = FORMATS[facility], date.fromisoformat(night_text)
        alive: list[tuple[str, str, dict[str, str]]] = []
        for rel, ref_, rec in items:
            found = record_violations(rec, fmt, facility, night, registry)
            quarantine = sorted(r for r, a in found if a == "quarantine")
            assert len(found) <= 1, (rel, ref_, found)
            if quarantine:
                result[(rel, ref_)] = (quarantine[0], "quarantine")
            else:
                result[(rel, ref_)] = next(iter(found), ("", "load"))
                alive.append((rel, ref_, rec))
        # Same code more than once in the batch: DUP / re-issue / B9 (document order = file, position).
        by_code: dict[str, list[tuple[str, str, dict[str, str]]]] = defaultdict(list)
        for item in alive:
            by_code[item[2]["certificate_code"]].append(item)
        survivors: list[tuple[str, str, dict[str, str]]] = []
        for occurrences in by_code.values():
            winner = occurrences[0]
            seen = [winner[2]]
            for rel, ref_, rec in occurrences[1:]:
                content = {k: v for k, v in rec.items() if k != "_tags"}
                if any(content == {k: v for k, v in s.items() if k != "_tags"} for s in seen):
                    result[(rel, ref_)] = ("DUP", "supersede")
                elif rec.get("first_issue") == "0" and parse_date(rec["issue_date"], fmt) > parse_date(
                    winner[2]["issue_date"], fmt
                ):  # type: ignore[operator]
                    result[(winner[0], winner[1])] = ("", "supersede")
                    winner = (rel, ref_, rec)
                else:
                    result[(rel, ref_)] = ("B9", "quarantine")
                seen.append(rec)
            survivors.append(winner)
        # B5: records per episode (MA_LK, or mother ID + birth date in PL02) = SO_CON.
        episodes: dict[tuple[str, ...], list[tuple[str, str, dict[str, str]]]] = defaultdict(list)
        for item in survivors:
            rec = item[2]
            key = (rec["mother_id_number"], rec["birth_datetime"][:8]) if fmt == "pl02" else (rec["episode_key"],)
            episodes[key].append(item)
        for members in episodes.values():
            for rel, ref_, rec in members:
                if rec["children_in_delivery"] != str(len(members)):
                    assert result[(rel, ref_)] == ("", "load")
                    result[(rel, ref_)] = ("B5", "flag")
    for rel, records in parsed.items():
        if records is None:
            result[(rel, "*")] = ("FILE", "reject_file")
    return result


# --------------------------------------------------------------------------- tests


def test_help_runs_from_repo_root() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sample_data.generator", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "--registry-out" in done.stdout
    assert "--counts" in done.stdout


def test_default_run_is_fast(default_run: tuple[Path, GenerationSummary, float]) -> None:
    assert default_run[2] < 5.0


def test_same_arguments_give_identical_bytes(
    default_run: tuple[Path, GenerationSummary, float], tmp_path: Path
) -> None:
    first = default_run[0]
    generate(tmp_path, START, 3, seed=6, registry_out=tmp_path / "facilities.yaml.out")
    listing_a = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    listing_b = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert listing_a == listing_b
    differing = [rel for rel in listing_a if (first / rel).read_bytes() != (tmp_path / rel).read_bytes()]
    assert differing == []


def test_another_seed_gives_other_data(tmp_path: Path, default_run: tuple[Path, GenerationSummary, float]) -> None:
    generate(tmp_path, START, 1, seed=7, per_night=5)
    assert (tmp_path / "reference/citizen_registry.csv").read_bytes() != (
        default_run[0] / "reference/citizen_registry.csv"
    ).read_bytes()


@pytest.mark.parametrize("defect", [pytest.param(name, id=name) for name in CATALOGUE])
def test_every_defect_kind_appears(truth: list[dict[str, str]], defect: str) -> None:
    rows = [r for r in truth if r["defect"] == defect]
    spec = CATALOGUE[defect]
    assert rows, f"{defect} missing from the default run"
    assert {(r["expected_rule"], r["expected_action"]) for r in rows} == {(spec.rule, spec.action)}
    if spec.level == "record":
        assert {FORMATS[r["facility_code"]] for r in rows} == set(spec.formats)


def test_reissues_on_same_and_later_nights(truth: list[dict[str, str]]) -> None:
    reissues = [r for r in truth if r["defect"] == "reissue"]
    same_night = later_night = 0
    for r in reissues:
        originals = [o for o in truth if o["certificate_code"] == r["certificate_code"] and o is not r]
        assert len(originals) == 1
        assert originals[0]["defect"] == ""
        if originals[0]["night"] == r["night"]:
            same_night += 1
            assert originals[0]["expected_action"] == "supersede"
        else:
            later_night += 1
            assert originals[0]["night"] < r["night"]
            assert originals[0]["expected_action"] == "load"
    assert same_night >= 2
    assert later_night >= 2


def test_ground_truth_matches_records_written(parsed: dict[str, Any], truth: list[dict[str, str]]) -> None:
    by_file: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in truth:
        by_file[row["source_file"]].append(row)
    assert set(by_file) == set(parsed)
    for rel, records in parsed.items():
        rows = by_file[rel]
        if records is None:
            assert {r["expected_action"] for r in rows} == {"reject_file"}
            continue
        assert [ref_ for ref_, _ in records] == [r["source_ref"] for r in rows], rel
        assert [rec.get("certificate_code") for _, rec in records] == [r["certificate_code"] for r in rows], rel
    assert len(truth) == sum(len(r) for r in parsed.values() if r is not None) + sum(
        len(by_file[rel]) for rel, r in parsed.items() if r is None
    )


def test_rejected_files(parsed: dict[str, Any], truth: list[dict[str, str]]) -> None:
    rejected = sorted(rel for rel, records in parsed.items() if records is None)
    assert len(rejected) == 2
    assert {FORMATS[facility_of(rel)] for rel in rejected} == {"xml9", "pl02"}


def test_oracle_agrees_with_ground_truth(
    parsed: dict[str, Any], truth: list[dict[str, str]], registry: dict[str, dict[str, str]]
) -> None:
    derived = oracle(parsed, registry)
    mismatches = []
    for row in truth:
        key = (
            (row["source_file"], "*") if parsed[row["source_file"]] is None else (row["source_file"], row["source_ref"])
        )
        if derived[key] != (row["expected_rule"], row["expected_action"]):
            mismatches.append((row["source_file"], row["source_ref"], row["defect"], derived[key]))
    assert mismatches == []


def test_clean_records_are_clean(
    parsed: dict[str, Any], truth: list[dict[str, str]], registry: dict[str, dict[str, str]]
) -> None:
    records = {(rel, ref_): rec for rel, recs in parsed.items() if recs for ref_, rec in recs}

    def episode(row: dict[str, str]) -> tuple[str, str]:
        rec = records[(row["source_file"], row["source_ref"])]
        if FORMATS[row["facility_code"]] == "pl02":
            return (row["night"], rec["mother_id_number"])
        return (row["source_file"], rec["episode_key"])

    clean = [row for row in truth if row["defect"] == "" and row["expected_action"] == "load"]
    episode_sizes = Counter(episode(row) for row in clean)
    checked = 0
    for row in clean:
        fmt = FORMATS[row["facility_code"]]
        rec = records[(row["source_file"], row["source_ref"])]
        night = date.fromisoformat(row["night"])
        born = parse_datetime(rec["birth_datetime"], fmt)
        issue = parse_date(rec["issue_date"], fmt)
        assert born is not None
        assert issue is not None
        assert night - timedelta(days=3) <= born.date() <= night
        assert 0 <= (issue - born.date()).days <= 3
        assert issue <= night
        assert 2000 <= int(rec["birth_weight_g"]) <= 4500
        citizen = registry[rec["mother_id_number"]]
        assert citizen["sex"] == "2"
        assert citizen["death_date"] == ""
        assert unicodedata.normalize("NFC", rec["mother_full_name"]).casefold() == citizen["full_name"].casefold()
        dob = date.fromisoformat(citizen["birth_date"])
        stated = parse_date(rec["mother_birth_date"], fmt, year_only=fmt == "pl02")
        assert stated is not None
        assert stated == dob or (len(rec["mother_birth_date"]) == 4 and stated.year == dob.year)
        age = born.year - dob.year - ((born.month, born.day) < (dob.month, dob.day))
        assert 16 <= age <= 45
        assert int(rec["children_in_delivery"]) == episode_sizes[episode(row)]
        assert rec["mother_nationality_code"] == "VNM"
        if fmt != "xml9":
            assert rec["first_issue"] == "1"
            assert rec["mother_id_type"] == "1"
        checked += 1
    assert checked > 500


def test_clean_mother_ids_have_the_real_structure(truth: list[dict[str, str]], parsed: dict[str, Any]) -> None:
    records = {(rel, ref_): rec for rel, recs in parsed.items() if recs for ref_, rec in recs}
    for row in truth:
        if row["defect"] or row["expected_action"] == "reject_file":
            continue
        rec = records[(row["source_file"], row["source_ref"])]
        pid = rec["mother_id_number"]
        assert re.fullmatch(r"\d{12}", pid)
        assert pid[:3] in ID_PROVINCE_PREFIXES
        assert pid[3] in "13"  # female, 1900s or 2000s
        year = int(
            rec["mother_birth_date"][:4] if FORMATS[row["facility_code"]] != "csv" else rec["mother_birth_date"][-4:]
        )
        assert 1900 + 100 * (int(pid[3]) // 2) + int(pid[4:6]) == year


def test_citizen_registry(registry: dict[str, dict[str, str]]) -> None:
    assert len(registry) >= 2000
    women = [c for c in registry.values() if c["sex"] == "2"]
    assert len(women) > 0.6 * len(registry)
    sex_mismatch = dead = 0
    for pid, c in registry.items():
        born = date.fromisoformat(c["birth_date"])
        assert pid[:3] == c["province_of_birth"]
        assert pid[:3] in ID_PROVINCE_PREFIXES
        if int(pid[3]) % 2 != (1 if c["sex"] == "2" else 0):
            sex_mismatch += 1  # registered male, ID digit female: the X4 mothers
            assert c["sex"] == "1"
        assert 1900 + 100 * (int(pid[3]) // 2) + int(pid[4:6]) == born.year
        if c["death_date"]:
            dead += 1  # X1/X2/X3 people
            assert date.fromisoformat(c["death_date"]) < START
        assert unicodedata.is_normalized("NFC", c["full_name"])
    assert 0 < sex_mismatch <= 10
    assert 0 < dead <= 20


def test_contract_names_are_emitted(parsed: dict[str, Any], default_run: tuple[Path, GenerationSummary, float]) -> None:
    tags: dict[str, set[str]] = defaultdict(set)
    for rel, records in parsed.items():
        for _, rec in records or []:
            tags[FORMATS[facility_of(rel)]].update(rec["_tags"].split(","))
    for fmt in ("xml9", "pl02"):
        expected = {spec["sources"][fmt] for spec in CONTRACT["columns"].values() if fmt in spec["sources"]}
        assert expected <= tags[fmt]
    assert {"MA_TTDV", "DU_PHONG"} <= tags["xml9"]
    assert "CAP_LAN_DAU" not in tags["xml9"]
    csv_names = [spec["sources"]["csv"] for spec in CONTRACT["columns"].values() if "csv" in spec["sources"]]
    any_csv = next(p for p in (default_run[0] / "drop/31011").rglob("*.csv"))
    header = any_csv.read_bytes().decode("utf-8-sig").split("\r\n", 1)[0].split(",")
    assert header == csv_names


def test_source_formats_details(parsed: dict[str, Any], default_run: tuple[Path, GenerationSummary, float]) -> None:
    pl02 = [rec for rel, recs in parsed.items() if recs and FORMATS[facility_of(rel)] == "pl02" for _, rec in recs]
    assert all(re.fullmatch(r"\d{14}", r["birth_datetime"]) for r in pl02 if r["birth_datetime"])
    assert all(re.fullmatch(r"\d{8}", r["issue_date"]) for r in pl02)
    assert any(len(r["mother_birth_date"]) == 4 for r in pl02)  # year-only DOB (valid in PL02)
    assert {r["first_issue"] for r in pl02} == {"0", "1"}
    assert any(r.get("surrogate_mother_name") for r in pl02)
    twins = Counter(
        rec["episode_key"]
        for rel, recs in parsed.items()
        if recs and FORMATS[facility_of(rel)] == "xml9"
        for _, rec in recs
    )
    assert any(n == 2 for n in twins.values())
    drop = default_run[0] / "drop"
    assert (
        (drop / "31011/birth_certificates/2026-11-21/giay_chung_sinh_31011_20261121.csv")
        .read_bytes()
        .startswith(b"\xef\xbb\xbf")
    )
    with pytest.raises(UnicodeDecodeError):
        (drop / "38017/birth_certificates/2026-11-21/giay_chung_sinh_38017_20261121.csv").read_bytes().decode("utf-8")


def test_format_drift_batch(truth: list[dict[str, str]]) -> None:
    drift = [r for r in truth if r["defect"] == "format_drift"]
    files = {r["source_file"] for r in drift}
    assert len(files) == 1
    (only,) = files
    in_file = [r for r in truth if r["source_file"] == only]
    assert in_file[0]["night"] == "2026-11-23"
    assert FORMATS[in_file[0]["facility_code"]] == "csv"
    assert 0.7 <= len(drift) / len(in_file) <= 0.9
    assert all(r["defect"] in ("", "format_drift") for r in in_file)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Nguyễn Thị Hương", id="nguyen"),
        pytest.param("Đặng Ngọc Ánh", id="dang"),
        pytest.param("Phạm Thị Thủy Tiên", id="hook-above"),
        pytest.param("Huỳnh Đức Thắng Trương Ỷ Ỹ", id="capitals"),
        pytest.param("ự ệ ậ ộ ặ ợ ữ ẫ ẵ ỗ ở ể ẩ ẳ", id="stacked-marks"),
        pytest.param("Không cân, Số 12 – Xã Ia H’Drai", id="punctuation"),
        pytest.param(unicodedata.normalize("NFD", "Nguyễn Thị Hương"), id="nfd-input"),
    ],
)
def test_cp1258_round_trip(text: str) -> None:
    encoded = to_cp1258_form(text).encode("cp1258")
    assert unicodedata.normalize("NFC", encoded.decode("cp1258")) == unicodedata.normalize("NFC", text)


def test_cp1258_file_round_trip(
    default_run: tuple[Path, GenerationSummary, float], registry: dict[str, dict[str, str]]
) -> None:
    path = default_run[0] / "drop/38017/birth_certificates/2026-11-21/giay_chung_sinh_38017_20261121.csv"
    rows = list(
        csv.DictReader(io.StringIO(unicodedata.normalize("NFC", path.read_bytes().decode("cp1258")), newline=""))
    )
    names = [r["ho_ten_me"] for r in rows if r["so_cccd_me"] in registry]
    assert names
    assert all(registry[r["so_cccd_me"]]["full_name"] == r["ho_ten_me"] for r in rows if r["so_cccd_me"] in registry)


def test_registry_yaml_matches_facilities_csv(default_run: tuple[Path, GenerationSummary, float]) -> None:
    out = default_run[0]
    registry = yaml.safe_load((out / "facilities.yaml.out").read_text(encoding="utf-8"))
    with (out / "reference/facilities.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [f["code"] for f in registry["facilities"]] == [r["code"] for r in table]
    for entry, row in zip(registry["facilities"], table, strict=True):
        assert entry["name"] == row["name"]
        assert entry["province_code"] == row["province_code"]
        assert entry["source_kind"] == row["source_kind"]
        spec = entry["datasets"][row["dataset"]]
        assert spec["format"] == row["format"]
        assert spec.get("encoding", "") == row["encoding"]
    births = [r for r in table if r["dataset"] == "birth_certificates"]
    assert Counter(r["format"] for r in births) == {"xml9": 2, "pl02": 2, "csv": 2, "sql_xml9": 1}
    assert Counter(r["source_kind"] for r in table) == {"file_drop": 12, "rest_api": 2, "sql": 1}


def test_committed_sample_registry_is_up_to_date(default_run: tuple[Path, GenerationSummary, float]) -> None:
    committed = REPO / "sample_data/facilities.yaml"
    assert committed.read_bytes() == (default_run[0] / "facilities.yaml.out").read_bytes(), (
        "regenerate: python -m sample_data.generator --out .work/sample --registry-out sample_data/facilities.yaml"
    )


def test_production_registry_is_hand_edited_and_valid() -> None:
    from config.registry import load_registry

    text = (REPO / "config/facilities.yaml").read_text(encoding="utf-8")
    assert "GENERATED" not in text and "Edit this file by hand" in text
    load_registry(REPO / "config/facilities.yaml")  # parses (its examples are comments)


@pytest.mark.parametrize("dataset", ["birth_certificates", "death_notices", "driver_health_checks", "health_workforce"])
def test_readme_counts_are_current(default_run: tuple[Path, GenerationSummary, float], dataset: str) -> None:
    readme = (REPO / "sample_data/README.md").read_text(encoding="utf-8")
    rows = read_csv(default_run[0] / f"ground_truth/{dataset}.csv")
    assert format_counts_table(rows, facility_formats()) in readme, (
        "refresh the counts tables: python -m sample_data.generator --counts <out>"
    )


def test_legacy_ground_truth_is_the_birth_file_drops(
    default_run: tuple[Path, GenerationSummary, float], truth: list[dict[str, str]]
) -> None:
    legacy = read_csv(default_run[0] / "ground_truth.csv")
    assert [r["certificate_code"] for r in legacy] == [
        r["record_key"] for r in truth if r["facility_code"] in BIRTH_DROPS
    ]
    assert {r["facility_code"] for r in legacy} == BIRTH_DROPS


def test_foreign_entries_are_left_alone(tmp_path: Path) -> None:
    # The main job generates into the data root, beside the pipeline's own zones.
    (tmp_path / "staging.db").write_text("keep me", encoding="utf-8")
    (tmp_path / "drop" / "stale").mkdir(parents=True)
    generate(tmp_path, START, 1, per_night=3)
    assert (tmp_path / "staging.db").read_text(encoding="utf-8") == "keep me"
    assert not (tmp_path / "drop" / "stale").exists()


def test_write_births_csv(tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    assert write_births_csv(path, 3000, seed=1) == 3000
    again = tmp_path / "again.csv"
    write_births_csv(again, 3000, seed=1)
    assert path.read_bytes() == again.read_bytes()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == 3000
    assert len({r["ma_gcs"] for r in rows}) == 3000
    end = date(2026, 11, 20)
    for row in rows:
        rec = _canonical(row, "csv")
        assert record_violations(rec, "csv", "31011", end) == set()


def test_write_births_csv_spreads_years_when_codes_run_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "CODES_PER_YEAR", 1000)
    path = tmp_path / "bench.csv"
    write_births_csv(path, 2500, seed=2)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert len({r["ma_gcs"] for r in rows}) == 2500
    assert {r["ma_gcs"][-2:] for r in rows} == {"24", "25", "26"}
    for row in rows:
        assert record_violations(_canonical(row, "csv"), "csv", "31011", date(2026, 11, 20)) == set()

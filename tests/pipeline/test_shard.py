"""A shard of facilities processed together: results stay per facility (files, findings, ledger,
failures), a bad file or a failing facility affects only itself, identical re-runs are skipped."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa

from loaders import staging
from loaders.schema import batch_ledger, ingested_files, quarantine
from tests.pipeline.test_batch import NIGHT, TZ, _child, _drop, _xml9, env  # noqa: F401 - fixture

REGISTRY = """facilities:
  - {code: "01929", name: A, province_code: "01", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
  - {code: "31011", name: B, province_code: "31", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
  - {code: "79034", name: C, province_code: "79", source_kind: file_drop, datasets: {birth_certificates: {format: xml9}}}
  - {code: "48005", name: D, province_code: "48", source_kind: file_drop, datasets: {birth_certificates: {format: csv}}}
"""
CODES = ["01929", "31011", "48005", "79034"]


@pytest.fixture
def shard_env(env, monkeypatch):  # noqa: F811
    (env / "facilities.yaml").write_text(REGISTRY, encoding="utf-8")
    return env


def _csv(root: Path, facility: str, name: str, rows: int, drop_column: str | None = None) -> None:
    import sample_data.generator as gen

    path = root / "drop" / facility / "birth_certificates" / NIGHT.isoformat() / name
    gen.write_births_csv(path, rows, seed=3, facility_code=facility, end=dt.date(2026, 11, 20))
    if drop_column:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        table = table.drop_columns([drop_column])
        pacsv.write_csv(table, path)


def _interval() -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(NIGHT.year, NIGHT.month, NIGHT.day, tzinfo=TZ)
    return start, start + dt.timedelta(days=1)


def _ledger(root: Path) -> dict[str, dict]:
    engine = staging.engine_for(f"sqlite:///{root / 'staging.db'}")
    with engine.connect() as conn:
        return {r["facility_code"]: dict(r) for r in conn.execute(sa.select(batch_ledger)).mappings()}


def test_a_shard_keeps_every_result_per_facility_and_a_bad_csv_is_a_bad_file(shard_env):
    from pipeline.shard import run_shard

    _drop(shard_env, "01929", NIGHT, "a.xml", _xml9([_child(i) for i in range(1, 4)]))
    _drop(shard_env, "79034", NIGHT, "c.xml", _xml9([_child(i, "79034") for i in range(1, 3)], envelope="79034"))
    _csv(shard_env, "31011", "good.csv", 5)
    _csv(shard_env, "31011", "no_code.csv", 4, drop_column="ma_gcs")  # a required column missing
    # 48005 sends nothing: a silent facility
    start, end = _interval()
    batches = run_shard("birth_certificates", CODES, start, end)
    assert [b.spec.facility for b in batches] == CODES
    ledger = _ledger(shard_env)
    assert {c: ledger[c]["status"] for c in CODES} == {
        "01929": "loaded", "31011": "partial", "48005": "empty", "79034": "loaded"}
    assert (ledger["01929"]["received"], ledger["01929"]["loaded"]) == (3, 3)
    assert (ledger["79034"]["received"], ledger["79034"]["loaded"]) == (2, 2)
    assert (ledger["31011"]["received"], ledger["31011"]["loaded"]) == (5, 5)  # the bad file's rows never count
    assert "no_code.csv: missing required column(s) ma_gcs" in ledger["31011"]["reason"]
    assert all(staging.reconcile(r) is None for r in ledger.values())
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        files = {(r.facility_code, Path(r.file_name).name): r.status for r in conn.execute(sa.select(ingested_files))}
        findings = [(r.facility_code, r.rule_id) for r in conn.execute(sa.select(quarantine))]
    assert files == {("01929", "a.xml"): "processed", ("79034", "c.xml"): "processed",
                     ("31011", "good.csv"): "processed", ("31011", "no_code.csv"): "rejected"}
    assert findings == [("31011", "FILE")]
    # the shard's stage times are recorded in every batch's timings
    timings = json.loads(ledger["01929"]["timings"])
    assert timings["shard_batches"] == 4 and "shard_validate" in timings and "shard_read" in timings


def test_an_identical_rerun_is_skipped_and_a_changed_facility_is_not(shard_env, monkeypatch):
    from pipeline.shard import run_shard

    _drop(shard_env, "01929", NIGHT, "a.xml", _xml9([_child(i) for i in range(1, 4)]))
    _drop(shard_env, "79034", NIGHT, "c.xml", _xml9([_child(i, "79034") for i in range(1, 3)], envelope="79034"))
    start, end = _interval()
    run_shard("birth_certificates", CODES, start, end)
    first = _ledger(shard_env)
    # 79034 re-delivers a corrected file; the others deliver nothing new
    _drop(shard_env, "79034", NIGHT, "c.xml", _xml9([_child(i, "79034") for i in range(1, 4)], envelope="79034"))
    batches = run_shard("birth_certificates", CODES, start, end)
    skipped = {b.spec.facility for b in batches if b.skipped_from is not None}
    assert skipped == {"01929", "31011", "48005"}
    again = _ledger(shard_env)
    assert again["79034"]["received"] == 3 and again["79034"]["inserted"] == 1 and again["79034"]["unchanged"] == 2
    for code in skipped:  # the recorded outcome stands; one more attempt is counted
        assert again[code]["attempts"] == first[code]["attempts"] + 1
        assert {k: v for k, v in again[code].items() if k != "attempts"} == {
            k: v for k, v in first[code].items() if k != "attempts"}
    monkeypatch.setenv("S06_FORCE_RERUN", "1")
    forced = run_shard("birth_certificates", CODES, start, end)
    assert not [b for b in forced if b.skipped_from is not None]
    assert _ledger(shard_env)["01929"]["unchanged"] == 3


def test_a_facility_whose_processing_raises_fails_alone(shard_env, monkeypatch):
    """One facility's rows make a derivation raise: the shard's combined chunk fails, each facility
    is then processed alone, and only that facility's batch fails."""
    from pipeline import shard as shard_module
    from pipeline.datasets import hooks_for

    real = hooks_for("birth_certificates")

    def derive(table, facility_code, cutoff, context=None):
        if "79034" in set(facility_code.to_pylist()):
            raise ZeroDivisionError("a bug triggered by this facility's data")
        return real.derive(table, facility_code, cutoff, context)

    monkeypatch.setattr(shard_module, "hooks_for", lambda ds: dataclasses.replace(real, derive=derive))
    _drop(shard_env, "01929", NIGHT, "a.xml", _xml9([_child(i) for i in range(1, 4)]))
    _drop(shard_env, "79034", NIGHT, "c.xml", _xml9([_child(i, "79034") for i in range(1, 3)], envelope="79034"))
    start, end = _interval()
    batches = shard_module.run_shard("birth_certificates", CODES, start, end)
    by_code = {b.spec.facility: b for b in batches}
    assert by_code["79034"].failure is not None and "ZeroDivisionError during processing" in by_code["79034"].failure.reason
    assert by_code["01929"].failure is None
    ledger = _ledger(shard_env)
    assert ledger["79034"]["status"] == "failed" and ledger["79034"]["input_fingerprint"] is None
    assert (ledger["01929"]["status"], ledger["01929"]["loaded"]) == ("loaded", 3)


def test_a_source_field_named_like_the_runners_lineage_rejects_that_file_only(shard_env):
    """A CSV column named ``_batch`` (the runner's own bookkeeping column) must not reach the
    shard's concatenation, where it crashed every facility of the shard; it is a bad file."""
    from pipeline.shard import run_shard

    _drop(shard_env, "01929", NIGHT, "a.xml", _xml9([_child(i) for i in range(1, 3)]))
    _csv(shard_env, "31011", "good.csv", 3)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "clash.csv"
    good = (path.parent / "good.csv").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([good[0] + ",_batch", *(line + ",7" for line in good[1:])]) + "\n", encoding="utf-8")
    start, end = _interval()
    run_shard("birth_certificates", ["01929", "31011"], start, end)
    ledger = _ledger(shard_env)
    assert (ledger["01929"]["status"], ledger["01929"]["loaded"]) == ("loaded", 2)
    assert (ledger["31011"]["status"], ledger["31011"]["loaded"]) == ("partial", 3)
    assert "clash.csv: CSV header uses a reserved column name" in ledger["31011"]["reason"]
    assert all(staging.reconcile(r) is None for r in ledger.values())


def test_header_case_is_forgiven_and_unknown_columns_are_noted(shard_env):
    """``HO_TEN_CHA`` for ``ho_ten_cha`` still fills the father's name; a column the layout does
    not know is named on the file's ingested_files row instead of vanishing without a word."""
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "upper.csv", 2)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "upper.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [("HO_TEN_CHA" if h == "ho_ten_cha" else h) for h in lines[0].split(",")] + ["ghi_chu_rieng"]
    path.write_text("\n".join([",".join(header), *(line + ",x" for line in lines[1:])]) + "\n", encoding="utf-8")
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        fathers = conn.execute(sa.text("SELECT count(father_full_name) FROM birth_certificates")).scalar()
        (status, reason), = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).all()
    assert fathers == 2
    assert (status, reason) == ("processed", "1 column(s) not in the csv layout were ignored: 'ghi_chu_rieng'")
    assert _ledger(shard_env)["31011"]["status"] == "loaded"
    # The facility hears of it too: one line of its feedback file (nothing else was wrong).
    from pipeline.feedback import collect

    lines = collect(engine, NIGHT, ["birth_certificates"], "Asia/Ho_Chi_Minh")
    assert list(lines) == ["31011"]
    (line,) = lines["31011"]
    assert (line["rule_id"], line["source_file"], line["reason"], line["rule_en"]) == (
        "NOTE", f"31011/birth_certificates/{NIGHT.isoformat()}/upper.csv",
        "1 column(s) not in the csv layout were ignored: 'ghi_chu_rieng'", "File loaded, with a note")


def test_a_detected_encoding_is_not_reported_as_declared(shard_env):
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "mixed.csv", 3)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "mixed.csv"
    data = path.read_bytes()
    cut = data.index(b"\n") + 5
    path.write_bytes(data[:cut] + b"\xe9" + data[cut:])  # one cp1252 byte in a UTF-8 file
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    reason = _ledger(shard_env)["31011"]["reason"]
    assert "mixed.csv: CSV file is not valid UTF-8" in reason and "(detected)" in reason
    assert "declared" not in reason


def test_a_utf8_file_from_a_facility_registered_as_cp1258_is_read_as_utf8_with_a_note(shard_env):
    """A facility whose system moved to UTF-8 while the registry still says cp1258: read as
    declared, every accented name would load as mojibake (``TRáº¦N``) without a word. The file is
    valid UTF-8 with accents, so it is read as UTF-8 and its ingested_files row says why, for the
    registry to be corrected; a real cp1258 file from the same entry still reads as cp1258."""
    from pipeline.shard import run_shard

    registry = REGISTRY.replace('{birth_certificates: {format: csv}}}\n  - {code: "79034"',
                                '{birth_certificates: {format: csv, encoding: cp1258}}}\n  - {code: "79034"')
    assert registry != REGISTRY
    (shard_env / "facilities.yaml").write_text(registry, encoding="utf-8")
    _csv(shard_env, "31011", "utf8.csv", 3)
    folder = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat()
    text = (folder / "utf8.csv").read_text(encoding="utf-8")
    assert any(ord(ch) > 127 for ch in text)
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(sa.text("SELECT mother_full_name FROM birth_certificates"))]
        (status, reason), = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).all()
    assert len(names) == 3 and all(n in text.upper() for n in names), "the names load as written, not as mojibake"
    assert status == "processed" and reason.startswith("read as UTF-8: the registry declares cp1258")

    # The same entry, a genuine cp1258 file the next night: read as declared, no note.
    night2 = NIGHT + dt.timedelta(days=1)
    (shard_env / "drop" / "31011" / "birth_certificates" / night2.isoformat()).mkdir(parents=True)
    target = shard_env / "drop" / "31011" / "birth_certificates" / night2.isoformat() / "legacy.csv"
    import unicodedata

    legacy = unicodedata.normalize("NFD", text).encode("cp1258", errors="replace")  # tone marks as cp1258 bytes
    assert max(legacy) > 127
    target.write_bytes(legacy)
    start2 = start + dt.timedelta(days=1)
    run_shard("birth_certificates", ["31011"], start2, start2 + dt.timedelta(days=1))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)
                            .where(ingested_files.c.file_name.like("%legacy.csv"))).all()
    assert rows == [("processed", None)]


def test_a_layout_column_sent_twice_in_different_case_rejects_the_file_an_unread_one_does_not():
    """``ho_ten_me`` and ``HO_TEN_ME``: keeping either silently chose the mother's name. Two
    columns the layout does not read may differ in case only (they are ignored, with a note)."""
    from config.contracts import load_contract
    from extractors.formats import FileRejected
    from pipeline.stages.read import header_names

    contract = load_contract("birth_certificates")
    tag = contract.tag_for("mother_full_name", "csv")
    assert tag is not None
    with pytest.raises(FileRejected, match=f"2 columns named '{tag}' in different letter case"):
        header_names(["so_giay", tag, tag.upper()], contract, "csv", "csv")
    assert header_names(["cot_rieng", "COT_RIENG", tag.upper()], contract, "csv", "csv") == ["cot_rieng", "COT_RIENG", tag]


@pytest.mark.parametrize(("record", "sent", "note"), [
    # XML names are case-sensitive: <Can_Nang_Con> is not the layout's CAN_NANG_CON (the note names
    # the layout's field, not the facility's spelling)
    (1, ("CAN_NANG_CON>", "Can_Nang_Con>"),
     "1 field(s) of the xml9 layout were sent in other letter case and not read (names are case-sensitive "
     "here): CAN_NANG_CON"),
    # the formats carry values as element text; the file's first record is looked at
    (0, ("<CAN_NANG_CON>3200</CAN_NANG_CON>", '<CAN_NANG_CON value="3200"/>'),
     "1 field(s) of the xml9 layout carry their value in an XML attribute, not as the element's text, and were "
     "read empty: CAN_NANG_CON"),
], ids=["letter-case", "attribute"])
def test_an_xml_field_the_reader_cannot_see_is_noted_not_lost_silently(shard_env, record, sent, note):
    """A field the XML reader cannot read (another letter case, a value in an attribute) would load
    empty without a word. The file's ingested_files row names the layout field, never the value,
    and the facility's feedback carries it."""
    from pipeline.shard import run_shard

    children = [_child(i) for i in range(1, 4)]
    children[record] = children[record].replace(*sent)
    _drop(shard_env, "01929", NIGHT, "a.xml", _xml9(children))
    start, end = _interval()
    run_shard("birth_certificates", ["01929"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        (status, reason), = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).all()
    assert (status, reason) == ("processed", note)
    assert "3200" not in reason
    assert _ledger(shard_env)["01929"]["received"] == 3


def test_a_semicolon_separated_export_loads_like_the_comma_one(shard_env):
    """The same records saved by a spreadsheet on a Vietnamese Windows (semicolons) load exactly as
    the comma file does: before, the header was one unknown column and the file was rejected."""
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "comma.csv", 4)
    folder = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat()
    with (folder / "comma.csv").open(encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    query = sa.text("SELECT * FROM birth_certificates ORDER BY certificate_code")
    with engine.connect() as conn:
        comma_rows = [dict(r) for r in conn.execute(query).mappings()]
    assert len(comma_rows) == 4

    night_after = NIGHT + dt.timedelta(days=1)
    later = shard_env / "drop" / "31011" / "birth_certificates" / night_after.isoformat()
    later.mkdir(parents=True)
    with (later / "semi.csv").open("w", encoding="utf-8-sig", newline="") as fh:  # as a spreadsheet saves it
        csv.writer(fh, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(records)
    run_shard("birth_certificates", ["31011"], end, end + dt.timedelta(days=1))
    ledger = {r["night"]: r for r in _ledgers(shard_env)}
    assert (ledger[night_after.isoformat()]["status"], ledger[night_after.isoformat()]["received"],
            ledger[night_after.isoformat()]["unchanged"]) == ("loaded", 4, 4)  # the same records, unchanged
    with engine.connect() as conn:
        assert [dict(r) for r in conn.execute(query).mappings()] == comma_rows


def _ledgers(root: Path) -> list[dict]:
    engine = staging.engine_for(f"sqlite:///{root / 'staging.db'}")
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(batch_ledger)).mappings()]


def test_a_file_of_no_format_says_what_is_accepted(shard_env):
    """A workbook or an XML document of another kind is rejected with what the dataset accepts,
    so the facility knows what to send instead; the night's good file still loads."""
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "good.csv", 2)
    folder = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat()
    (folder / "so_sinh.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    (folder / "other.xml").write_text("<BAOCAO><DONG>1</DONG></BAOCAO>", encoding="utf-8")
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        files = {Path(r.file_name).name: (r.status, r.reason) for r in conn.execute(sa.select(ingested_files))}
    assert files == {
        "good.csv": ("processed", None),
        "so_sinh.xlsx": ("rejected", "file is not one of this dataset's source formats (accepted: .csv, .jsonl, .xml); "
                                     "a spreadsheet workbook is not read: save the sheet as CSV (UTF-8)"),
        "other.xml": ("rejected", "the XML root element is none of this dataset's formats (GIAMDINHHS, HSDLGCS)"),
    }
    assert (_ledger(shard_env)["31011"]["status"], _ledger(shard_env)["31011"]["loaded"]) == ("partial", 2)


def test_a_title_line_above_the_header_is_named_as_such(shard_env):
    """A spreadsheet report often has a title line above the header: nothing of the layout is in
    the first line, and the reason says so instead of listing every required column as missing."""
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "report.csv", 2)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "report.csv"
    path.write_text("DANH SACH GIAY CHUNG SINH THANG 11\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        (status, reason), = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).all()
    assert status == "rejected"
    assert reason.startswith("the first line names none of the csv layout's columns (a title line above the header, "
                             "or another layout?); required: ma_gcs,")


def test_a_file_without_its_header_row_names_none_of_its_first_record(shard_env):
    """A CSV whose header row is missing has its first record read as the header: its values
    (a citizen ID, a date of birth, a name) must not come back as "column names" in a reason."""
    import csv
    import io

    from pipeline.feedback import collect
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "noheader.csv", 3)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "noheader.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))[1:]
    seen: set[str] = set()
    for i, value in enumerate(rows[0]):  # distinct values, so it is not refused as a repeated name
        rows[0][i] = value if value not in seen else f"{value}{i}"
        seen.add(rows[0][i])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    first = [v for v in rows[0] if len(v) >= 4]  # the values that could identify someone
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        reasons = [r for (r,) in conn.execute(sa.select(ingested_files.c.reason)).all() if r]
    reasons.append(_ledger(shard_env)["31011"]["reason"] or "")
    reasons += [line["reason"] for line in collect(engine, NIGHT, ["birth_certificates"], "Asia/Ho_Chi_Minh")
                .get("31011", [])]
    assert reasons and first
    for reason in reasons:
        assert not [v for v in first if v in reason], reason
    assert any("header" in r for r in reasons), reasons


def test_values_pasted_into_a_real_header_are_named_by_position(shard_env):
    """Extra header cells holding a citizen ID, a date of birth, a phone number or a Vietnamese
    name are reported by position in the ignored-columns note; a plain extra name still by name."""
    from pipeline.feedback import collect
    from pipeline.shard import run_shard

    _csv(shard_env, "31011", "pasted.csv", 2)
    path = shard_env / "drop" / "31011" / "birth_certificates" / NIGHT.isoformat() / "pasted.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    pasted = ["001099012345", "1990-01-02", "0912345678", "Nguyễn Thị Lan", "x20240101"]
    width = len(lines[0].split(","))
    header = f"{lines[0]},ghi_chu_them,{','.join(pasted)}"
    path.write_text("\n".join([header, *(line + ",x" * (1 + len(pasted)) for line in lines[1:])]) + "\n",
                    encoding="utf-8")
    start, end = _interval()
    run_shard("birth_certificates", ["31011"], start, end)
    engine = staging.engine_for(f"sqlite:///{shard_env / 'staging.db'}")
    with engine.connect() as conn:
        (status, reason), = conn.execute(sa.select(ingested_files.c.status, ingested_files.c.reason)).all()
    positions = ", ".join(f"#{width + 2 + i}" for i in range(len(pasted)))
    assert (status, reason) == ("processed", f"6 column(s) not in the csv layout were ignored: 'ghi_chu_them', {positions}")
    feedback = [line["reason"] for line in collect(engine, NIGHT, ["birth_certificates"], "Asia/Ho_Chi_Minh")["31011"]]
    for text in [reason, *feedback, str(_ledger(shard_env)["31011"]["reason"])]:
        assert not [v for v in pasted if v in text], text

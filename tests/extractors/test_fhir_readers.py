"""FHIR readers: the FHIRPath subset, views, Bulk Data NDJSON and searchset Bundle pages, with
references resolved within the export (real files in a temp folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.fhir import PathError, ViewError, compile_path, evaluate, load_view, parse_view, reference_key
from extractors.fhir.outcome import outcome_summary
from extractors.formats import FileRejected, reader

VIEW = "vn_core_immunization"
NATIONAL_ID = "http://fhir.ehealth.gov.vn/core/sid/national_id"
PROGRAMME = "http://fhir.hl7.org.vn/core/StructureDefinition/vn-ext-immunization-program-type"
ADDRESS = "http://fhir.ehealth.gov.vn/core/StructureDefinition/extension-administrative-address"


def patient(pid: str, personal_id: str | None = "001226012345", born: str = "2026-07-01") -> dict:
    res: dict = {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": born,
                 "address": [{"extension": [{"url": ADDRESS, "extension": [
                     {"url": "state", "valueCodeableConcept": {"coding": [{"code": "01"}]}}]}]}]}
    if personal_id:
        res["identifier"] = [{"system": "urn:other", "value": "MRN-1"},
                             {"system": NATIONAL_ID, "value": personal_id}]
    return res


def immunization(iid: str, patient_ref: str | None = "Patient/p1", **extra) -> dict:
    res = {"resourceType": "Immunization", "id": iid, "meta": {"lastUpdated": "2026-11-21T10:00:00+07:00"},
           "extension": [{"url": PROGRAMME, "valueCode": "tcmr"}], "status": "completed",
           "vaccineCode": {"coding": [{"system": "http://snomed.info/sct", "code": "1"},
                                      {"system": "http://hl7.org/fhir/sid/cvx", "code": "102"}]},
           "occurrenceDateTime": "2026-11-21T09:00:00+07:00",
           "protocolApplied": [{"doseNumberPositiveInt": 2, "seriesDosesPositiveInt": 4}]}
    if patient_ref:
        res["patient"] = {"reference": patient_ref}
    res.update(extra)
    return res


def ndjson(path: Path, resources: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in resources), encoding="utf-8")
    return path


def rows(path: Path, chunk_rows: int = 100, name: str = "fhir_ndjson", **opts) -> list[dict]:
    return [row for t in reader(name)(path, chunk_rows, view=VIEW, **opts) for row in t.to_pylist()]


# ---------------------------------------------------------------------------- paths and views


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("id", ["i1"], id="member"),
    pytest.param("Immunization.status", ["completed"], id="leading-type"),
    pytest.param("vaccineCode.coding.code", ["1", "102"], id="flattens-lists"),
    pytest.param("vaccineCode.coding.where(system = 'http://hl7.org/fhir/sid/cvx').code", ["102"], id="where"),
    pytest.param("vaccineCode.coding.where(system = 'x' or system = 'http://snomed.info/sct').first().code", ["1"],
                 id="where-or-first"),
    pytest.param("vaccineCode.coding.where(system = 'x' and code = '1').code", [], id="where-and"),
    pytest.param(f"extension('{PROGRAMME}').valueCode", ["tcmr"], id="extension"),
    pytest.param("protocolApplied.doseNumberPositiveInt", [2], id="number"),
    pytest.param("lotNumber", [], id="absent"),
])
def test_paths_select_like_fhirpath(text, expected):
    assert evaluate(compile_path(text), immunization("i1")) == expected


@pytest.mark.parametrize("text", ["a.b(", "descendants()", "a = 'x'", "where(x = 1)", "a..b", ""])
def test_anything_outside_the_subset_is_refused(text):
    with pytest.raises(PathError):
        compile_path(text)


def test_resolve_goes_through_the_resolver_only():
    path = compile_path(f"patient.resolve().identifier.where(system = '{NATIONAL_ID}').value")
    target = patient("p1")
    assert evaluate(path, immunization("i1"), lambda ref: target if ref["reference"] == "Patient/p1" else None) \
        == ["001226012345"]
    assert evaluate(path, immunization("i1")) == []  # no resolver: nothing resolves


@pytest.mark.parametrize(("ref", "key"), [
    ("Patient/p1", "Patient/p1"), ("https://vax.example/fhir/Patient/p1", "Patient/p1"),
    ("Patient/p1/_history/3", "Patient/p1"), ("urn:uuid:1f0c", "urn:uuid:1f0c"), ("#contained", None),
    ("p1", None), (None, None),
])
def test_reference_keys(ref, key):
    assert reference_key(ref) == key


def test_the_packaged_view_parses_and_names_the_contract_tags():
    from config.contracts import load_contract

    view = load_view(VIEW)
    assert view.resource == "Immunization" and view.references == ("Patient",)
    contract = load_contract("vaccination_records")
    assert set(contract.source_tags("fhir_ndjson")) <= set(view.column_names)
    assert set(contract.source_tags("fhir_search")) == set(contract.source_tags("fhir_ndjson"))


@pytest.mark.parametrize(("raw", "match"), [
    ({"view": "v", "version": "1", "resource": "X"}, "missing field 'columns'"),
    ({"view": "v", "version": "1", "resource": "X", "columns": [{"name": "A", "path": "id"}]}, "lower-case"),
    ({"view": "v", "version": "1", "resource": "X", "columns": [{"name": "a", "path": "foo()"}]}, r"columns\[0\] \(a\)"),
    ({"view": "v", "version": "1", "resource": "X", "columns": [{"name": "a", "path": "p.resolve().id"}]},
     "needs the view to list its 'references'"),
    ({"view": "v", "version": "1", "resource": "X", "references": ["P"],
      "columns": [{"name": "a", "path": "p.resolve().id", "resolved": True}]}, "takes one path to a Reference"),
])
def test_a_malformed_view_is_refused_naming_the_column(raw, match):
    with pytest.raises(ViewError, match=match):
        parse_view(raw, "v.yaml")


# ---------------------------------------------------------------------------- NDJSON (Bulk Data)


def test_ndjson_resolves_patients_of_the_same_export(tmp_path):
    ndjson(tmp_path / "Patient.ndjson", [patient("p1"), patient("p2", personal_id=None, born="2026-11-20")])
    path = ndjson(tmp_path / "Immunization.ndjson", [
        immunization("i1"), immunization("i2", "Patient/p2"), immunization("i3", "Patient/gone"),
        immunization("i4", None, patient={"identifier": {"system": NATIONAL_ID, "value": "079226000001"}}),
    ])
    got = {r["id"]: r for r in rows(path)}
    assert got["i1"]["personal_id"] == "001226012345" and got["i1"]["birth_date"] == "2026-07-01"
    assert got["i1"]["residence_province"] == "01" and got["i1"]["gender"] == "female"
    assert got["i1"]["vaccine_code"] == "102" and got["i1"]["vaccine_system"] == "http://hl7.org/fhir/sid/cvx"
    assert got["i1"]["dose_number"] == "2" and got["i1"]["programme_type"] == "tcmr"
    assert got["i1"]["patient_in_export"] == "1" and got["i1"]["_source_ref"] == "line 1"
    assert got["i2"]["patient_in_export"] == "1" and got["i2"]["personal_id"] is None  # a newborn without ID
    assert got["i3"]["patient_in_export"] == "0" and got["i3"]["birth_date"] is None
    # a logical reference that carries the identifier: nothing to resolve, the ID is taken as given
    assert got["i4"]["patient_in_export"] is None and got["i4"]["personal_id"] == "079226000001"
    assert all(r["_reader_error"] is None for r in got.values())


def test_ndjson_reference_data_is_not_a_record_and_other_lines_are_envelope_errors(tmp_path):
    ndjson(tmp_path / "Patient.ndjson", [patient("p1")])
    assert rows(tmp_path / "Patient.ndjson") == []  # the Patient file itself yields no record
    path = ndjson(tmp_path / "Immunization.ndjson", [
        immunization("i1"), patient("p9"), {"resourceType": "Observation", "id": "o1"}, '{"resourceType": "Immu',
        "[1, 2]", {"resourceType": "<script>"},
    ])
    got = rows(path)
    assert [r["_source_ref"] for r in got] == ["line 1", "line 3", "line 4", "line 5", "line 6"]
    errors = [r["_reader_error"] for r in got]
    assert errors[0] is None
    assert errors[1] == "line 3 holds a resource of type Observation, not Immunization"
    assert errors[2] == "line 4 is not a valid JSON object (truncated or corrupt)"
    assert errors[3] == "line 5 is not a JSON object"
    assert errors[4] == "line 6 holds a resource of type (not a type name), not Immunization"  # not echoed
    assert all(r["id"] is None for r in got[1:])


def test_a_repeated_key_is_named_as_such_not_as_corrupt_json(tmp_path):
    """An identity field given twice: which value was meant is unknown. The NDJSON line is a row
    error, and so is the Bundle entry that holds it; the page's other entries are read. Each error
    says the key repeats (before: "not valid JSON (truncated or corrupt)", which sent the facility
    looking for a cut file); never the values."""
    ndjson(tmp_path / "Patient.ndjson", [patient("p1")])
    path = tmp_path / "Immunization.ndjson"
    path.write_text('{"resourceType": "Immunization", "id": "i1", "id": "i2"}\n'
                    + json.dumps(immunization("i3")) + "\n", encoding="utf-8")
    got = rows(path)
    assert [(r["_source_ref"], r["_reader_error"], r["id"]) for r in got] == [
        ("line 1", "line 1 repeats the key 'id' in one object (which value was meant is unknown)", None),
        ("line 2", None, "i3")]
    page = tmp_path / "page-00001.json"
    page.write_text('{"resourceType": "Bundle", "entry": [' + json.dumps({"resource": immunization("i0")})
                    + ', {"resource": {"resourceType": "Immunization", '
                    '"id": "i1", "identifier": [{"value": "079226000001", "value": "079226000002"}]}}, '
                    + json.dumps({"resource": immunization("i2")}) + ']}', encoding="utf-8")
    got = rows(page, name="fhir_bundle")
    assert [(r["_source_ref"], r["_reader_error"], r["id"]) for r in got] == [
        ("Immunization/i0", None, "i0"),
        ("entry[2]", "entry[2] repeats the key 'value' in one object (which value was meant is unknown)", None),
        ("Immunization/i2", None, "i2")]
    assert not any("0792260" in (r["_reader_error"] or "") for r in got)


@pytest.mark.parametrize("envelope", [
    '"type": "searchset", "type": "batch"',
    '"link": [{"relation": "next", "relation": "self", "url": "http://x/fhir?page=2"}]',
    '"resourceType": "Bundle"',  # the page's own type given twice
    # two entry lists, the second with an entry that repeats a key itself: still the page's own
    '"entry": [], "entry": [{"resource": {"resourceType": "Immunization", "id": "i1", "id": "i2"}}]',
])
def test_a_page_whose_envelope_repeats_a_key_is_rejected_whole(tmp_path, envelope):
    """A repeated key in the page's own envelope (not in one entry) leaves the whole page
    ambiguous: rejected, naming the key."""
    page = tmp_path / "page-00001.json"
    page.write_text('{"resourceType": "Bundle", ' + envelope + ', "entry": ['
                    + json.dumps({"resource": immunization("i0")}) + ']}', encoding="utf-8")
    with pytest.raises(FileRejected, match=r"^FHIR page repeats the key '(type|relation|resourceType|entry)' in one object"):
        rows(page, name="fhir_bundle")


def test_an_included_patient_that_repeats_a_key_resolves_nothing(tmp_path):
    """Reference data with a repeated key is not trusted: the immunization that points at it reads
    as if the patient were absent from the export, while the page's other patients still resolve."""
    ok = {"fullUrl": "http://x/fhir/Patient/p1", "resource": patient("p1"), "search": {"mode": "include"}}
    spoiled = json.dumps({"fullUrl": "http://x/fhir/Patient/p2", "resource": patient("p2"), "search": {"mode": "include"}})
    spoiled = spoiled.replace('"resourceType": "Patient"', '"resourceType": "Patient", "id": "p9"', 1)
    page = tmp_path / "page-00001.json"
    page.write_text('{"resourceType": "Bundle", "entry": ['
                    + json.dumps({"resource": immunization("i1", "Patient/p1")}) + ", "
                    + json.dumps({"resource": immunization("i2", "Patient/p2")}) + ", "
                    + json.dumps(ok) + ", " + spoiled + "]}", encoding="utf-8")
    got = rows(page, name="fhir_bundle", resolve_files="page-*.json")
    assert [(r["id"], r["patient_in_export"], r["_reader_error"]) for r in got] == [
        ("i1", "1", None), ("i2", "0", None), (None, None, "entry[4] repeats the key 'id' in one object "
                                                        "(which value was meant is unknown)")]


def test_ndjson_streams_in_chunks_and_rejects_undecodable_bytes(tmp_path):
    ndjson(tmp_path / "Patient.ndjson", [patient("p1")])
    path = ndjson(tmp_path / "Immunization.ndjson", [immunization(f"i{k}") for k in range(25)])
    chunks = list(reader("fhir_ndjson")(path, 10, view=VIEW))
    assert [t.num_rows for t in chunks] == [10, 10, 5]
    bad = tmp_path / "Broken.ndjson"
    bad.write_bytes(json.dumps(immunization("i1")).encode() + b"\n" + b'{"resourceType": "Immunization", "id": "\xff"}\n')
    offset = len(json.dumps(immunization("i1"))) + 1 + len('{"resourceType": "Immunization", "id": "')
    with pytest.raises(FileRejected, match=rf"not valid UTF-8 \(invalid byte at offset {offset}, after line \d+\)"):
        list(reader("fhir_ndjson")(bad, 10, view=VIEW))


def test_ndjson_index_follows_a_changed_patient_file(tmp_path):
    ndjson(tmp_path / "Patient.ndjson", [patient("p1", personal_id="001226012345")])
    path = ndjson(tmp_path / "Immunization.ndjson", [immunization("i1")])
    assert rows(path)[0]["personal_id"] == "001226012345"
    ndjson(tmp_path / "Patient.ndjson", [patient("p1", personal_id="001226099999"), patient("p2")])
    assert rows(path)[0]["personal_id"] == "001226099999"


def test_values_are_guarded_like_every_reader(tmp_path):
    ndjson(tmp_path / "Patient.ndjson", [patient("p1")])
    path = ndjson(tmp_path / "Immunization.ndjson", [immunization("i1", lotNumber="A\x01B")])
    got = rows(path)[0]
    assert got["lot_number"] is None and "control character" in got["_reader_error"]


# ---------------------------------------------------------------------------- searchset Bundle pages


def bundle(entries: list, **extra) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries, **extra}


def test_bundle_pages_resolve_includes_across_pages_and_skip_them_as_records(tmp_path):
    (tmp_path / "page-00001.json").write_text(json.dumps(bundle([
        {"fullUrl": "http://x/fhir/Immunization/i1", "resource": immunization("i1", "Patient/p2"), "search": {"mode": "match"}},
        {"fullUrl": "http://x/fhir/Patient/p1", "resource": patient("p1"), "search": {"mode": "include"}},
        {"resource": {"resourceType": "OperationOutcome", "issue": []}, "search": {"mode": "outcome"}},
    ])), encoding="utf-8")
    (tmp_path / "patients-001-00001.json").write_text(json.dumps(bundle([
        {"fullUrl": "http://x/fhir/Patient/p2", "resource": patient("p2", personal_id="079226000002"),
         "search": {"mode": "match"}}])), encoding="utf-8")
    got = rows(tmp_path / "page-00001.json", name="fhir_bundle", resolve_files=["page-*.json", "patients-*.json"])
    assert len(got) == 1
    assert got[0]["_source_ref"] == "Immunization/i1" and got[0]["personal_id"] == "079226000002"
    assert got[0]["patient_in_export"] == "1"
    assert rows(tmp_path / "patients-001-00001.json", name="fhir_bundle") == []


def test_a_page_that_is_an_operation_outcome_names_its_codes_only(tmp_path):
    page = tmp_path / "page-00001.json"
    page.write_text(json.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "too-costly", "diagnostics": "patient 001226012345 has too many"}]}))
    with pytest.raises(FileRejected) as info:
        rows(page, name="fhir_bundle")
    assert info.value.reason == "FHIR page is an OperationOutcome, not a Bundle: OperationOutcome error/too-costly"
    page.write_text('{"resourceType": "Bundle", "entry": [')
    with pytest.raises(FileRejected, match="not valid JSON"):
        rows(page, name="fhir_bundle")


def test_outcome_summary_never_echoes_free_text():
    doc = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "diagnostics": "001226012345"},
        {"severity": "error", "code": "invalid"},
        {"severity": "<b>", "code": "001226012345", "details": {"text": "secret"}}]}
    text = outcome_summary(doc)
    assert text == "OperationOutcome error/invalid x2, unknown/other"
    assert "0012" not in text and "secret" not in text


def test_an_unpaired_surrogate_escape_is_that_entrys_row_error_not_the_pages(tmp_path):
    """``"\\udc80"`` alone is valid JSON text but no UTF-8 writer takes it: the page used to be
    rejected whole (UnicodeEncodeError), losing the entries beside it."""
    page = tmp_path / "page-00001.json"
    bad = immunization("i2", None, lotNumber="ZZ\\udc80LOT")
    text = json.dumps(bundle([{"resource": immunization("i1", None)}, {"resource": bad},
                              {"resource": immunization("i3", None)}]))
    page.write_text(text.replace("ZZ\\\\udc80LOT", "ZZ\\udc80LOT"), encoding="utf-8")
    assert "\\udc80" in page.read_text(encoding="utf-8")
    got = rows(page, name="fhir_bundle")
    assert [(r["_source_ref"], r["_reader_error"]) for r in got] == [
        ("Immunization/i1", None),
        ("Immunization/i2", "Immunization/i2 holds an invalid Unicode escape (an unpaired surrogate, \\ud800-\\udfff)"),
        ("Immunization/i3", None)]

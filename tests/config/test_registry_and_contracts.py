import pytest

from config.contracts import ContractError, available_datasets, load_contract, parse_contract
from config.registry import RegistryError, parse_registry

GOOD = {"facilities": [{"code": "01929", "name": "BV", "province_code": "01", "source_kind": "file_drop",
                        "datasets": {"birth_certificates": {"format": "xml9"}}}]}


def test_good_registry():
    (fac,) = parse_registry(GOOD)
    assert fac.code == "01929" and fac.datasets["birth_certificates"].format == "xml9"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param({"code": 1929}, r"facilities\[0\] \(code 1929\): field 'code'", id="unquoted-code"),
        pytest.param({"source_kind": "ftp"}, "field 'source_kind'", id="kind"),
        pytest.param({"datasets": {"birth_certificates": {}}}, r"datasets.birth_certificates.format", id="format"),
        pytest.param({"province_code": 1}, "province_code", id="province"),
        pytest.param({"datasets": {"birth_certificates": {"format": "csv", "encoding": "latin1"}}}, "encoding", id="encoding"),
    ],
)
def test_bad_registry_names_entry_and_field(patch, message):
    raw = {"facilities": [GOOD["facilities"][0] | patch]}
    with pytest.raises(RegistryError, match=message):
        parse_registry(raw)


def test_duplicate_code():
    with pytest.raises(RegistryError, match="duplicate"):
        parse_registry({"facilities": GOOD["facilities"] * 2})


def test_every_contract_loads_and_direct_identifiers_never_kept():
    for ds in available_datasets():
        contract = load_contract(ds)
        for spec in contract.columns.values():
            if spec.pii == "direct":
                assert spec.curated in ("drop", "pseudonymize"), spec.name


def test_contract_rejects_direct_identifier_kept():
    raw = {"dataset": "x", "event_date": "d", "natural_key": ["a"], "source_formats": {},
           "columns": {"a": {"type": "id", "pii": "direct", "curated": "keep"}}}
    with pytest.raises(ContractError, match=r"columns.a: a direct identifier"):
        parse_contract(raw)


def test_rendered_data_dictionary_is_current():
    from pathlib import Path

    from config.contracts import render_dictionary
    from loaders.dictionary import staging_mapping

    docs = Path(__file__).resolve().parents[2] / "docs" / "data_dictionary"
    for ds in available_datasets():
        # The analyst dictionary (loaders/dictionary.py) embeds the staging/source mapping.
        assert staging_mapping(load_contract(ds)).rstrip() in (docs / f"{ds}.md").read_text(encoding="utf-8"), (
            "regenerate: python -m loaders.dictionary"
        )
        assert render_dictionary(load_contract(ds)).endswith(staging_mapping(load_contract(ds)))


def _with_rule(**rule):
    raw = {"dataset": "x", "event_date": "d", "natural_key": ["a"], "source_formats": {},
           "columns": {"a": {"type": "code", "pii": "none", "curated": "keep"},
                       "d": {"type": "date", "pii": "none", "curated": "keep"}},
           "options": {"codes": {"type": "list", "default": ["1"]}, "low": {"type": "int", "default": 1}},
           "rules": [{"id": "R1", "severity": "error", "category": "conformance", "message": "m", **rule}]}
    return raw


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        pytest.param({"kind": "teleport", "column": "a"}, "kind 'teleport' not one of", id="unknown-kind"),
        pytest.param({"kind": "in_set", "column": "b", "values": [1]}, "column 'b' is neither", id="unknown-column"),
        pytest.param({"kind": "in_set", "column": "a"}, r"needs \['values'\].*missing \['values'\]", id="missing-param"),
        pytest.param({"kind": "in_set", "column": "a", "values": {"option": "nope"}}, "unknown option 'nope'",
                     id="unknown-option"),
        pytest.param({"kind": "range", "column": "a"}, "needs 'min' or 'max'", id="empty-range"),
        pytest.param({"kind": "pair", "columns": ["a"], "op": "equal"}, "checks 2 column", id="pair-one-column"),
        pytest.param({"kind": "regex", "column": "a", "pattern": "x", "message": "{missing}"}, "may name options only",
                     id="message-names-data"),
        pytest.param({"kind": "regex", "column": "a", "pattern": "x", "normalize": "upper_vi"}, "normalize",
                     id="normalize-on-regex"),
    ],
)
def test_contract_rules_are_checked_when_the_contract_loads(rule, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(_with_rule(**rule))


def test_contract_option_defaults_are_checked():
    raw = _with_rule(kind="in_set", column="a", values={"option": "codes"})
    raw["options"]["low"] = {"type": "int", "default": "one"}
    with pytest.raises(ContractError, match=r"option defaults are inconsistent.*low.*integer"):
        parse_contract(raw)


def test_required_year_only_date_is_checked_on_its_year():
    raw = _with_rule(kind="in_set", column="a", values={"option": "codes"})
    raw["columns"]["birth_date"] = {"type": "date", "pii": "quasi", "curated": "year", "required": True,
                                    "year_only_allowed": True}
    with pytest.raises(ContractError, match="birth_year"):
        parse_contract(raw)  # the year column must be declared as a derived frame column
    raw["derived"] = {"birth_year": "integer"}
    contract = parse_contract(raw)
    assert contract.required_columns == ("birth_year",)
    assert contract.all_rules()[0].columns == ("birth_year",) and contract.all_rules()[0].id == "REQ"
    assert contract.column_kinds == {"birth_year": "integer", "a": "string"}


def test_a_rest_source_can_cap_its_pages():
    rest = {"code": "75440", "name": "API", "province_code": "75", "source_kind": "rest_api", "conn_id": "c",
            "options": {"max_pages": 200}, "datasets": {"driver_health_checks": {"format": "gksk_api", "path": "/x"}}}
    (fac,) = parse_registry({"facilities": [rest]})
    assert fac.options["max_pages"] == 200
    with pytest.raises(RegistryError, match="max_pages"):
        parse_registry({"facilities": [rest | {"options": {"max_pages": 0}}]})

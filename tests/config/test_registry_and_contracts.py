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

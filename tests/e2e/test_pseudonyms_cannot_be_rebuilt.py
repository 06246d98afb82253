"""No pseudonym can be rebuilt from the other curated columns, for every dataset contract.

The demo-sized sample nights go through curated Parquet (the shared e2e run); then, for every
column the contract pseudonymizes, the test maps each curated pseudonym back to its identifier
(the test knows the dev key) and tries the reconstructions an analyst could:

* a clear column (alone) equal to the identifier, with or without its separators;
* two clear values (the facility code and the years of every date column included) joined by a
  separator (``.``, ``/``, ``-``, ``|``, ``_``, space or nothing);
* the *parts* of a structured identifier (``XXXXX.GCS.<facility>.YY``, ``NNNNN/GKSKLX/<f>/YY``,
  ``123456/HCM-CCHN``): parts shared by most identifiers are the format's constants, the row's
  facility code and years are public; every other part is secret, and no clear column may carry
  a secret part (as a value or one of its tokens, numbers compared without leading zeros) in most
  of the rows where it has a value; nor may an identifier be made of public parts only;
* HMAC-SHA256 with the key, in every pseudonym domain, of every clear value: none may equal a
  published pseudonym (a clear column holding an identifier whose pseudonym is published).

Written generically over the contracts, so a new dataset or column is checked without changes.
Before the death-notice fix this failed: ``notice_number`` (and ``first_issue_number`` on
re-issues) carried the running number of ``notice_code`` in clear.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import product

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from config.contracts import available_datasets, load_contract
from loaders.curated import curated_schema
from loaders.schema import dataset_tables
from pipeline.secrets import pseudonym_key
from tests.e2e.conftest import select
from transforms.pseudonymize import pseudonymize

pytestmark = pytest.mark.integration

SEPARATORS = ("", ".", "/", "-", "|", "_", " ")
#: A part present in at least this share of a column's identifiers is a constant of the format.
CONSTANT_SHARE = 0.5
#: A clear column carrying a secret part in more than this share of its non-null rows leaks it.
LEAK_SHARE = 0.5
_SPLIT = re.compile(r"[^0-9A-Za-z]+")


def _norm(token: str) -> str:
    """Numbers compare by value (a leak may drop or add leading zeros)."""
    return token.lstrip("0") or "0" if token.isdigit() else token.upper()


def _parts(value: str) -> list[str]:
    return [p for p in _SPLIT.split(value) if p]


def _curated(settings, dataset: str) -> pa.Table:
    contract = load_contract(dataset)
    ycol, mcol = contract.partition_by
    files = sorted((settings.curated_root / dataset).glob(f"{ycol}=*/{mcol}=*/part-*.parquet"))
    assert files, f"{dataset}: no curated partitions"
    return pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])


def _as_text(arr: pa.ChunkedArray) -> list[str | None]:
    if pa.types.is_timestamp(arr.type):
        arr = pc.strftime(arr, "%Y-%m-%d %H:%M:%S")
    return [None if v is None else str(v) for v in arr.to_pylist()]


def _pseudonymized(contract) -> dict[str, str]:
    """curated pseudonym column -> its domain."""
    return {f"{n}_pseudonym": (c.pseudonym_domain or n) for n, c in contract.columns.items() if c.curated == "pseudonymize"}


def _years(row: dict[str, str | None], date_columns: list[str], year_columns: list[str]) -> set[str]:
    out = set()
    for c in date_columns:
        if row[c]:
            out |= {row[c][:4], row[c][2:4]}
    for c in year_columns:
        if row[c]:
            out |= {row[c], row[c][-2:]}
    return out


@pytest.fixture(scope="module")
def published(all_datasets_run):
    """Per dataset: curated rows as text, and each pseudonym column mapped back to identifiers."""
    settings, engine, _runs = all_datasets_run
    key = pseudonym_key()
    out = {}
    for ds in available_datasets():
        contract = load_contract(ds)
        table = _curated(settings, ds)
        assert table.schema.equals(curated_schema(contract), check_metadata=False)
        staged = select(engine, dataset_tables(ds)[0])
        inverse: dict[str, dict[str, str]] = {}
        for pcol, domain in _pseudonymized(contract).items():
            source = pcol.removesuffix("_pseudonym")
            values = sorted({str(r[source]) for r in staged if r[source] is not None})
            digests = pseudonymize(pa.array(values, pa.string()), key, domain).to_pylist()
            inverse[pcol] = dict(zip(digests, values, strict=True))
        rows = [dict(zip(table.column_names, vals, strict=True))
                for vals in zip(*[_as_text(table.column(c)) for c in table.column_names], strict=True)]
        out[ds] = (contract, table.schema, rows, inverse)
    return out, key


@pytest.mark.parametrize("dataset", available_datasets())
def test_no_curated_column_rebuilds_a_pseudonymized_identifier_or_its_parts(published, dataset):
    data, _key = published
    contract, schema, rows, inverse = data[dataset]
    pcols = list(_pseudonymized(contract))
    clear = [f.name for f in schema if f.name not in pcols]
    date_cols = [f.name for f in schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)]
    year_cols = [f.name for f in schema if f.name.endswith("_year")]
    problems: list[str] = []
    for pcol in pcols:
        idents = [(row, inverse[pcol].get(row[pcol])) for row in rows if row[pcol] is not None]
        assert all(v is not None for _r, v in idents), f"{pcol}: a curated pseudonym maps to no staged value"
        if not idents:
            continue
        share = Counter(_norm(p) for _r, v in idents for p in set(_parts(v)))
        constants = {p for p, n in share.items() if n >= CONSTANT_SHARE * len(idents)}
        hits: Counter[str] = Counter()
        nonnull: Counter[str] = Counter()
        public_only = whole = 0
        for row, value in idents:
            facility = {_norm(row["facility_code"])} if row.get("facility_code") else set()
            public = facility | {_norm(y) for y in _years(row, date_cols, year_cols)}
            secret = {_norm(p) for p in _parts(value)} - constants - public
            public_only += not secret
            texts = {c: row[c] for c in clear if row[c] is not None}
            # alone, or two values (facility code and years included) joined by a separator
            candidates = set(texts.values()) | {row["facility_code"]} | _years(row, date_cols, year_cols)
            candidates.discard(None)
            flat = value.replace(".", "").replace("/", "").replace("-", "")
            if value in candidates or flat in candidates or any(
                    a + s + b == value for a, b in product(candidates, repeat=2) for s in SEPARATORS
                    if len(a) + len(b) + len(s) == len(value)):
                whole += 1
            for col, text in texts.items():
                nonnull[col] += 1
                tokens = {_norm(text)} | {_norm(t) for t in _parts(text)}
                if tokens & secret:
                    hits[col] += 1
        if whole:
            problems.append(f"{pcol}: rebuilt whole from clear columns in {whole} of {len(idents)} rows")
        if public_only > CONSTANT_SHARE * len(idents):
            problems.append(f"{pcol}: made of facility, year and constant parts only in {public_only} rows")
        for col, n in sorted(hits.items()):
            if n > LEAK_SHARE * nonnull[col]:
                problems.append(f"{pcol}: clear column {col} carries a secret part in {n} of {nonnull[col]} rows")
    assert not problems, f"{dataset}: pseudonyms can be rebuilt: " + "; ".join(problems)


def test_no_clear_value_hashes_to_a_published_pseudonym(published):
    """HMAC of every clear value, in every pseudonym domain, against every published pseudonym."""
    data, key = published
    pseudonyms: set[str] = set()
    domains: set[str] = set()
    clear_values: set[str] = set()
    for contract, _schema, rows, _inverse in data.values():
        pcols = _pseudonymized(contract)
        domains |= set(pcols.values())
        for row in rows:
            for name, value in row.items():
                if value is None:
                    continue
                if name in pcols:
                    pseudonyms.add(value)
                else:
                    clear_values.add(value)
    assert pseudonyms and clear_values
    values = pa.array(sorted(clear_values), pa.string())
    found = {d: len(set(pseudonymize(values, key, d).to_pylist()) & pseudonyms) for d in sorted(domains)}
    assert not any(found.values()), f"clear curated values whose pseudonym is published, per domain: {found}"

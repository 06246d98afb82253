"""Staging-store schema, built from the dataset contracts (one definition, every dialect).

Per dataset: ``<dataset>`` (current version per natural key), ``<dataset>_versions`` (every
earlier or never-current version received) and the view ``<dataset>_history`` (both). Shared: ``batch_ledger``, ``ingested_files``, ``quarantine``
(held-back rows) and ``dq_warnings`` (loaded rows flagged by warning-severity rules). No table
stores rule-failing *values* outside the dataset tables themselves.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from config.contracts import DatasetContract, load_contract
from transforms.normalize import not_measured_column, year_column

SA_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    "string": sa.Text,
    "code": sa.Text,
    "id": sa.Text,
    "name": sa.Text,
    "text": sa.Text,
    "date": sa.Date,
    "datetime": sa.DateTime,
    "int": sa.Integer,
    "bool": sa.Boolean,
}

metadata = sa.MetaData()

batch_ledger = sa.Table(
    "batch_ledger",
    metadata,
    sa.Column("batch_id", sa.Text, primary_key=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("facility_code", sa.Text, nullable=False),
    sa.Column("interval_start", sa.Text, nullable=False),
    sa.Column("interval_end", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("received", sa.Integer, nullable=False, default=0),
    sa.Column("loaded", sa.Integer, nullable=False, default=0),
    sa.Column("inserted", sa.Integer, nullable=False, default=0),
    sa.Column("updated", sa.Integer, nullable=False, default=0),
    sa.Column("unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("superseded", sa.Integer, nullable=False, default=0),
    sa.Column("quarantined", sa.Integer, nullable=False, default=0),
    sa.Column("held", sa.Integer, nullable=False, default=0),
    sa.Column("flagged", sa.Integer, nullable=False, default=0),
    sa.Column("files_received", sa.Integer, nullable=False, default=0),
    sa.Column("files_rejected", sa.Integer, nullable=False, default=0),
    sa.Column("files_skipped", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.Text),
    sa.Column("partitions", sa.Text),
    sa.Column("timings", sa.Text),
    sa.Column("source_kind", sa.Text),
    # facts about the extraction (pages, attempts, rows; never content or credentials)
    sa.Column("source_facts", sa.Text),
    # sql sources: the largest cursor value read (the next run starts from its own interval)
    sa.Column("high_water_mark", sa.Text),
    # what the batch was given (file checksums, registry entry, contract/code/reference versions,
    # settings): an identical re-run of a completed batch is skipped
    sa.Column("input_fingerprint", sa.Text),
    # the local night of the interval (YYYY-MM-DD; also the end of batch_id)
    sa.Column("night", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Index("ix_batch_ledger_interval", "dataset", "interval_start"),
    sa.Index("ix_batch_ledger_night", "dataset", "night"),
)

ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("batch_id", sa.Text, primary_key=True),
    sa.Column("file_name", sa.Text, primary_key=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("facility_code", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.Text),
    sa.Column("encoding", sa.Text),
    sa.Column("status", sa.Text, nullable=False),  # processed | rejected | skipped_duplicate
    sa.Column("records", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.Text),
    sa.Index("ix_ingested_files_sha", "dataset", "facility_code", "sha256"),
)


def _finding_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Text, nullable=False, index=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("facility_code", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text),
        sa.Column("source_ref", sa.Text),
        sa.Column("record_key", sa.Text),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("column_name", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
    )


quarantine = _finding_table("quarantine")
dq_warnings = _finding_table("dq_warnings")

#: The change feed the population database reads: one row per natural key that became a new
#: current version, in commit order. ``seq`` only grows; a reader that remembers the last ``seq``
#: it processed gets every change once, in order.
change_feed = sa.Table(
    "change_feed",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("natural_key", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),  # insert | update
    sa.Column("version_key", sa.Text, nullable=False),
    sa.Column("record_hash", sa.Text, nullable=False),
    sa.Column("batch_id", sa.Text, nullable=False),
    sa.Index("ix_change_feed_dataset_seq", "dataset", "seq"),
    sa.Index("ix_change_feed_batch", "batch_id"),
)

#: Where each consumer of the feed has got to (its last processed ``seq`` per dataset).
feed_cursors = sa.Table(
    "feed_cursors",
    metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
)

#: What the population database did with each version it read: matched / registered / rejected.
acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("dataset", sa.Text, primary_key=True),
    sa.Column("natural_key", sa.Text, primary_key=True),
    sa.Column("record_hash", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("batch_id", sa.Text, nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
)

#: One row per pipeline lock (``loaders.locks``): a lock is ``SELECT … FOR UPDATE`` on its row, which
#: only the writer role may do (readers have no privilege on this table).
pipeline_locks = sa.Table(
    "pipeline_locks",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
)

#: Lineage and bookkeeping columns every dataset table carries after the contract columns.
LINEAGE_COLUMNS: list[tuple[str, type[sa.types.TypeEngine]]] = [
    ("facility_code", sa.Text),
    ("source_format", sa.Text),
    ("spec_version", sa.Text),
    ("source_file", sa.Text),
    ("source_ref", sa.Text),
    ("batch_id", sa.Text),
    ("record_hash", sa.Text),
    ("version_key", sa.Text),
    # 'active', or 'cancelled' for a tombstone (the source withdrew the record; see contracts)
    ("record_status", sa.Text),
]


def data_columns(contract: DatasetContract) -> list[tuple[str, type[sa.types.TypeEngine]]]:
    """(name, SQL type) of the stored columns: contract columns, derived columns, lineage."""
    cols: list[tuple[str, type[sa.types.TypeEngine]]] = []
    for name, spec in contract.columns.items():
        cols.append((name, SA_TYPES[spec.type]))
        if spec.year_only_allowed:
            cols.append((year_column(name), sa.Integer))
        if spec.not_measured_values:
            cols.append((not_measured_column(name), sa.Boolean))
    return cols + LINEAGE_COLUMNS


@cache
def dataset_tables(dataset: str) -> tuple[sa.Table, sa.Table]:
    """The (current, versions) tables of a dataset, registered on :data:`metadata`."""
    contract = load_contract(dataset)
    cols = data_columns(contract)
    key = list(contract.natural_key)
    current = sa.Table(
        dataset,
        metadata,
        *[sa.Column(n, t(), primary_key=n in key) for n, t in cols],
        # Curated partitions are rebuilt per event month: find a month without a full scan.
        sa.Index(f"ix_{dataset}_event", contract.event_date),
        sa.Index(f"ix_{dataset}_batch", "batch_id"),
        # The person other records look this dataset up by (the cross-record rules X3/X6 on
        # deaths, W5 on workforce registrations, V5 on earlier doses): contract `person_lookups`.
        *([sa.Index(f"ix_{dataset}_person", contract.match_column)]
          if contract.match_column and contract.person_lookups else []),
    )
    versions = sa.Table(
        f"{dataset}_versions",
        metadata,
        *[sa.Column(n, t(), primary_key=n in key or n == "record_hash") for n, t in cols],
    )
    return current, versions

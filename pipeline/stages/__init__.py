"""The stages of a batch, named after the flow (see ``docs/architecture.md``).

A *batch* is one dataset × one facility × one night; a *shard* is a list of facilities of one
dataset processed together by one task. Every stage works on the whole shard at once — so fixed
costs (reading the registry, building the suite, one Great Expectations call, one transaction)
are paid per shard, not per facility — while every result stays per batch: each facility has its
own files, findings, gate, ledger row and failure.

::

    land     extractors.sources.acquire per facility: files in the raw zone, checksums, manifest;
             an identical re-run of a completed batch is recognised here and skipped
    read     the contract's readers: string-typed chunks, a file that cannot be read is rejected
    conform  normalize to canonical types, derive validation columns, lineage, versions, dedup
    judge    reader errors + parse failures + one GX validation per chunk -> findings per row
    spill    valid rows to restricted work files, quarantined rows to the quarantine zone
    load     the gate per batch (quarantine share), then findings, files, staging rows and the
             ledger of every batch in one transaction (per batch again if that fails)

The runner that strings them together is :class:`pipeline.shard.ShardRunner`; publishing the
curated months is a separate task (:mod:`loaders.curated`).
"""

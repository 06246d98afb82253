"""``ops.preload``: what a worker imports once so its forked task processes inherit it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PROBE = (
    "import json, sys; from ops.preload import preload; took = preload(); "
    "communes = sys.modules['transforms.admin_units']._valid_pairs.cache_info().currsize "
    "if 'transforms.admin_units' in sys.modules else 0; "
    "print(json.dumps({'took': took, 'communes': communes, 'mods': sorted(m for m in sys.modules "
    "if m.split('.')[0] in ('great_expectations', 'pipeline', 'expectations', 'transforms', 'extractors') "
    "or m in ('pyarrow.dataset', 'pyarrow.acero'))}))"
)


def _probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_preload_imports_the_pipeline_and_every_dataset_hook() -> None:
    from config.contracts import available_datasets, load_contract

    got = _probe(S06_PRELOAD="1")
    hooks = {load_contract(ds).hook for ds in available_datasets()} - {None, ""}
    assert len(hooks) == len(available_datasets())
    assert got["took"] > 0
    assert {"great_expectations", "pipeline.tasks", "expectations.runner", *hooks} <= set(got["mods"])
    # what a shard task imports when it runs, so that a forked task does not pay for it
    assert {"pipeline.shard", "pipeline.lookups", "extractors.formats", "pyarrow.dataset", "pyarrow.acero"} <= set(got["mods"])
    assert got["communes"] == 1


def test_preload_can_be_switched_off() -> None:
    got = _probe(S06_PRELOAD="0")
    assert got["took"] == 0.0
    assert not {"great_expectations", "transforms.births"} & set(got["mods"])

"""``expectations.lazy_modules``: scipy.stats and altair, imported by GX but unused by our suites,
load on first use; validation results are the same with and without the deferral."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Validates every dataset's parity frames in a fresh interpreter; prints whether the deferred
#: modules were ever executed and a digest of the findings and summaries.
SCRIPT = """
import hashlib, json, sys
import expectations
from expectations.runner import validate_frame
from config.contracts import available_datasets
from expectations.compile import compiled
from tests.expectations.parity_frames import frames
import great_expectations
digest = hashlib.sha256()
for dataset in available_datasets():
    kinds = getattr(compiled(dataset), "COLUMN_KINDS", {})
    for name, frame in sorted(frames(dataset, kinds).items()):
        findings, summary = validate_frame(frame, dataset)
        digest.update(json.dumps([[f.row, f.rule_id, f.column] for f in findings] + [summary],
                                 sort_keys=True, default=str).encode())
loaded = {m: type(sys.modules[m]).__name__ != "_LazyModule" for m in ("scipy.stats", "altair") if m in sys.modules}
import scipy.stats
used = round(float(scipy.stats.norm.cdf(0.0)), 3)  # first use runs the module
print(json.dumps({"loaded": loaded, "digest": digest.hexdigest(), "used": used}))
"""


def _run(lazy: str) -> dict:
    env = {**os.environ, "S06_LAZY_IMPORTS": lazy, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_deferred_modules_are_never_run_by_validation_and_results_do_not_change() -> None:
    deferred, eager = _run("1"), _run("0")
    assert deferred["loaded"] == {"scipy.stats": False, "altair": False}
    assert eager["loaded"] == {"scipy.stats": True, "altair": True}
    assert deferred["digest"] == eager["digest"]
    assert deferred["used"] == eager["used"] == 0.5

"""Hypothesis profiles for the fuzz tests.

* ``ci`` (default): a modest example count, so every fuzz test together stays under a minute in
  ``make test``; no example database is written.
* ``long`` (``make fuzz``, or ``HYPOTHESIS_PROFILE=long``): thousands of examples per reader, the
  example database under ``.work/hypothesis`` so a failure found once is replayed first next time.

A failing example found by a long run is added as an explicit regression test
(``test_regressions.py``), never left only in the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

REPO = Path(__file__).resolve().parents[2]
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}

settings.register_profile("ci", max_examples=int(os.environ.get("S06_FUZZ_EXAMPLES", "40")), database=None,
                          derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("S06_FUZZ_EXAMPLES", "3000")),
                          database=DirectoryBasedExampleDatabase(str(REPO / ".work" / "hypothesis")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

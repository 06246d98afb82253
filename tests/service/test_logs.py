"""Task-log hygiene: third-party INFO noise silenced in one place, the one-line batch summary."""

from __future__ import annotations

import subprocess
import sys

from pipeline.logs import summary_line, top_rules


def test_great_expectations_info_noise_is_silenced_even_when_imported_afterwards():
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from pipeline.logs import quiet_third_party; quiet_third_party()\n"
        "import great_expectations as gx; gx.get_context(mode='ephemeral')\n"
        "logging.getLogger('pipeline.x').info('own line')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    text = out.stdout + out.stderr
    assert "own line" in text  # the pipeline's own INFO stays
    assert "great_expectations" not in text, text[:2000]


def test_noise_is_there_without_it():
    code = ("import logging; logging.basicConfig(level=logging.INFO)\n"
            "import great_expectations as gx; gx.get_context(mode='ephemeral')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert "great_expectations" in out.stdout + out.stderr  # the check above can fail


def test_summary_line_names_top_rules_and_reason():
    line = summary_line({"facility_code": "31011", "status": "held", "received": 35, "loaded": 0, "quarantined": 28,
                         "superseded": 0, "held": 7, "reason": "quarantine share 80% exceeds threshold 50%",
                         "quarantined_by_rule": {"B3": 1, "B2": 28, "A3": 1, "B1": 1}})
    assert line.startswith("facility 31011 held: received 35, loaded 0, quarantined 28, superseded 0, held 7")
    assert "top rules B2 ×28, A3 ×1, B1 ×1, +1 more rule(s)" in line
    assert line.endswith("reason: quarantine share 80% exceeds threshold 50%")
    assert top_rules({}) == ""

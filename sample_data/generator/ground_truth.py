"""The ground truth of a generated run: one row per record written, and tables of counts.

``ground_truth/<dataset>.csv`` is what the pipeline's tests compare against: for every record of
every source, where it is (file or API/table and ``source_ref``, exactly as the readers report
it), its natural key as written, which defect it carries and what the pipeline must do with it.
The legacy ``ground_truth.csv`` (births file drops only, key column ``certificate_code``) is
still written for the pipeline's birth end-to-end test.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sample_data.generator.records import ACTIONS, Output, Rec
from sample_data.generator.writers import write_bytes

COLUMNS = (
    "facility_code",
    "night",
    "source_file",
    "source_ref",
    "record_key",
    "defect",
    "expected_rule",
    "expected_action",
)


@dataclass(frozen=True)
class TruthRow:
    """One record of the drop and its expected outcome.

    Attributes:
        facility_code: facility.
        night: delivery night, ``YYYY-MM-DD``.
        source_file: path relative to ``drop/`` (forward slashes), ``api/<facility>/<dataset>``
            or ``sql/<facility>/<table>``.
        source_ref: position in the source as the reader reports it (empty for REST records).
        record_key: the natural key as written (births: certificate code).
        defect: defect id, empty for a clean record.
        expected_rule: rule id that must fire, empty if none.
        expected_action: ``load``, ``flag``, ``quarantine``, ``supersede`` or ``reject_file``.
        order: numeric position in the file (sorting only; not written).
    """

    facility_code: str
    night: str
    source_file: str
    source_ref: str
    record_key: str
    defect: str
    expected_rule: str
    expected_action: str
    order: tuple[int, ...] = ()

    def sort_key(self) -> tuple[str, str, str, tuple[int, ...]]:
        """Facility, night, file, then position in the file."""
        return (self.facility_code, self.night, self.source_file, self.order)


LEGACY_COLUMNS = tuple("certificate_code" if c == "record_key" else c for c in COLUMNS)


def render_csv(rows: Iterable[TruthRow], *, legacy: bool = False) -> str:
    """Render a ground-truth CSV (sorted by facility, night, file, position).

    Args:
        rows: the rows, any order.
        legacy: write the old births header (``certificate_code`` instead of ``record_key``).

    Returns:
        CSV text with LF line ends.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LEGACY_COLUMNS if legacy else COLUMNS)
    for row in sorted(rows, key=TruthRow.sort_key):
        writer.writerow([getattr(row, c) for c in COLUMNS])
    return buf.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    """Read a ``ground_truth.csv``.

    Args:
        path: the file.

    Returns:
        One dict per row, keyed by :data:`COLUMNS`.
    """
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def counts_by_batch(rows: list[dict[str, str]]) -> list[tuple[str, str, Counter[str]]]:
    """Per facility × night: records received and per expected action.

    Args:
        rows: ground-truth rows.

    Returns:
        ``(facility, night, counter)`` sorted; the counter has ``received`` and one key per action.
    """
    table: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        counter = table.setdefault((row["facility_code"], row["night"]), Counter())
        counter["received"] += 1
        counter[row["expected_action"]] += 1
    return [(f, n, table[(f, n)]) for f, n in sorted(table)]


def format_counts_table(rows: list[dict[str, str]], formats: dict[str, str] | None = None) -> str:
    """A Markdown table of the counts per facility × night, with a total row.

    ``received = load + flag + quarantine + supersede + reject_file``; records "loaded" are
    ``load + flag``.

    Args:
        rows: ground-truth rows.
        formats: facility code -> format label, for an extra column.

    Returns:
        The table text.
    """
    head = ["facility", "format", "night", "received", *ACTIONS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    total: Counter[str] = Counter()
    for facility, night, counter in counts_by_batch(rows):
        total.update(counter)
        label = (formats or {}).get(facility, "")
        lines.append(
            "| "
            + " | ".join([facility, label, night, str(counter["received"]), *(str(counter[a]) for a in ACTIONS)])
            + " |"
        )
    lines.append(
        "| " + " | ".join(["**total**", "", "", str(total["received"]), *(str(total[a]) for a in ACTIONS)]) + " |"
    )
    return "\n".join(lines) + "\n"


VERSIONING_KINDS = frozenset({"reissue", "edit", "new_version"})


def format_defect_table(rows: list[dict[str, str]], catalogue: Mapping[str, Any]) -> str:
    """A Markdown table of a defect catalogue with the count and share of each defect.

    Args:
        rows: ground-truth rows.
        catalogue: defect name -> spec with ``rule``, ``action``, ``formats`` (the dataset's ``CATALOGUE``).

    Returns:
        The table text (share = count / records in the ground truth).
    """
    counts = Counter(row["defect"] for row in rows)
    total = len(rows) or 1
    head = ["defect", "expected_rule", "expected_action", "formats", "count", "share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, spec in catalogue.items():
        action = "load / supersede (original)" if name in VERSIONING_KINDS else spec.action
        n = counts.get(name, 0)
        lines.append(
            f"| {name} | {spec.rule or '(none)'} | {action} | {', '.join(spec.formats)} | {n} | {100 * n / total:.1f} % |"
        )
    clean = counts.get("", 0)
    lines.append(f"| (clean) | (none) | load / supersede | all | {clean} | {100 * clean / total:.1f} % |")
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, outputs: list[Output], key: Callable[[Rec], str], rows: list[TruthRow]) -> int:
    """Write the files of a string-field dataset and append their ground truth; returns files written."""
    for output in outputs:
        write_bytes(out_dir / output.path, output.data)
        for record, source_ref, order in output.placements:
            rows.append(
                TruthRow(
                    facility_code=record.facility_code,
                    night=record.night.isoformat(),
                    source_file=output.source_file,
                    source_ref=source_ref,
                    record_key=key(record),
                    defect=record.defect,
                    expected_rule=record.expected_rule,
                    expected_action=record.expected_action,
                    order=(order,),
                )
            )
    return len(outputs)

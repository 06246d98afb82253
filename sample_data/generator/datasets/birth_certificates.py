"""Birth certificates: the generator protocol (file drops in three formats, a facility database).

The records and their renderings are in ``birth_certificates_records``, the record- and
file-level defects in ``birth_certificates_defects``, the SQL facility's table in
``birth_certificates_sql``; this module strings them together for a run and names the
benchmark writer.
"""

from __future__ import annotations

from sample_data.generator.datasets import birth_certificates_defects as defects
from sample_data.generator.datasets import birth_certificates_records as records
from sample_data.generator.datasets import birth_certificates_sql as sql
from sample_data.generator.ground_truth import TruthRow, render_csv
from sample_data.generator.protocol import Generated, RunInputs
from sample_data.generator.records import PersonPool
from sample_data.generator.registry import Facility
from sample_data.generator.rng import derive_rng
from sample_data.generator.writers import write_bytes

DATASET = records.DATASET
#: The file-drop catalogue plus the SQL source's.
CATALOGUE = {**defects.CATALOGUE, **sql.SPECS}
BENCH_FACILITY = "31011"
BENCH_FILE = "giay_chung_sinh_bench.csv"
BENCH_SEED = 6
write_bench_csv = records.write_births_csv


def generate(run: RunInputs) -> Generated:
    """File drops (XML9, PL02, CSV) with defects, then the SQL facility's table; also the legacy
    ``ground_truth.csv`` (file drops only)."""
    truth: list[TruthRow] = []
    files = 0
    drops = [f for f in run.facilities if f.sends(DATASET) and f.source_kind == "file_drop"]
    ctx = records.RunContext(seed=run.seed, start=run.start, per_night=run.per_night,
                             mothers=records.MotherPool(run.citizens, run.seed))
    batches = [records.NightBatch(facility=f, night=night, units=records.plan_night(ctx, f, night))
               for night in run.nights for f in drops]
    defects.inject(batches, run.seed, run.defect_rate)
    versions: dict[str, dict[str, int]] = {}
    for batch in batches:
        for rendered in records.render_batch(batch, versions.setdefault(batch.facility.code, {}), run.seed):
            write_bytes(run.out_dir / "drop" / rendered.rel_path, rendered.data)
            files += 1
            for record, placement in rendered.placements:
                assert isinstance(record, records.BirthRecord)
                truth.append(TruthRow(
                    facility_code=batch.facility.code, night=batch.night.isoformat(), source_file=rendered.rel_path,
                    source_ref=placement.source_ref, record_key=record.certificate_code, defect=record.defect,
                    expected_rule=record.expected_rule, expected_action=record.expected_action, order=placement.order,
                ))
    legacy = list(truth)
    for facility in (f for f in run.facilities if f.sends(DATASET) and f.source_kind == "sql"):
        files += _sql_source(run, facility, truth)
    return Generated(files, truth, {"ground_truth.csv": render_csv(legacy, legacy=True).encode("utf-8")})


def _sql_source(run: RunInputs, facility: Facility, truth: list[TruthRow]) -> int:
    """The SQL facility's birth table (its own mothers, the XML9 columns) and its ground truth."""
    ctx = records.RunContext(seed=run.seed, start=run.nights[0], per_night=run.per_night,
                             mothers=records.MotherPool(run.extra.mothers, run.seed))
    male = PersonPool(run.extra.male_in_registry, derive_rng(run.seed, "pool", "male-in-registry"))
    batches = sql.plan(ctx, facility, run.nights, run.registry_dead, male)
    rows = sql.table_rows_of(batches, run.seed)
    sql.write_sqlite(run.out_dir / "facility_db" / f"{facility.code}.sqlite", rows)
    source = f"sql/{facility.code}/{sql.TABLE}"
    for row in rows:
        r = row.record
        truth.append(TruthRow(
            facility_code=facility.code, night=row.night.isoformat(), source_file=source,
            source_ref=f"{sql.KEY_COLUMN}={row.row_id}", record_key=r.certificate_code, defect=r.defect,
            expected_rule=r.expected_rule, expected_action=r.expected_action, order=(row.row_id,),
        ))
    return 1

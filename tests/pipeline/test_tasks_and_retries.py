"""Sharding of facilities and the retry policy of the facility task."""

import pytest

from pipeline.errors import BatchFailed, BatchHeldBack, TransportError
from pipeline.tasks import plan_shards


@pytest.mark.parametrize(("size", "expected"), [(1, 7), (2, 4), (4, 2), (50, 1), (0, 7)])
def test_plan_shards_covers_every_facility_once(size, expected):
    shards = plan_shards("birth_certificates", size)
    assert len(shards) == expected
    flat = [code for shard in shards for code in shard]
    assert sorted(flat) == flat and len(set(flat)) == len(flat) == 7


def test_a_national_registry_never_exceeds_the_mapped_task_cap(tmp_path):
    import dataclasses

    from config.settings import load_settings
    from pipeline.tasks import MAX_SHARDS

    entries = "".join(
        f'  - {{code: "{i:05d}", name: F{i}, province_code: "01", source_kind: file_drop, '
        f'datasets: {{birth_certificates: {{format: csv}}}}}}\n' for i in range(1, 3001))
    registry = tmp_path / "facilities.yaml"
    registry.write_text("facilities:\n" + entries, encoding="utf-8")
    settings = dataclasses.replace(load_settings(), facilities_file=registry)
    shards = plan_shards("birth_certificates", 1, settings)
    assert len(shards) <= MAX_SHARDS
    assert sum(len(s) for s in shards) == 3000


@pytest.mark.parametrize(
    ("exc", "action"),
    [
        pytest.param(TransportError("drop unreachable"), "retry", id="transport-retried"),
        pytest.param(BatchHeldBack("held"), "fail", id="held-not-retried"),
        pytest.param(BatchFailed("bug"), "fail", id="failure-not-retried"),
        pytest.param(ValueError("anything else"), "fail", id="other-not-retried"),
    ],
)
def test_only_transport_errors_are_retried(exc, action):
    from pipeline.dag_factory import build_dag

    task = build_dag("birth_certificates").get_task("process_facilities")
    decision = task.retry_policy.evaluate(exc, try_number=1, max_tries=4)
    assert decision.action.value == action
    assert task.retries == 3 and task.retry_exponential_backoff


def test_library_errors_are_replaced_without_their_message(caplog):
    from pipeline.errors import StepFailed, withhold_data

    secret = "0011950" + "12345"

    @withhold_data("publish_curated")
    def step():
        raise ValueError(f"Failed to parse string: '{secret}'")  # as Arrow/DB drivers do

    with pytest.raises(StepFailed, match="publish_curated failed: ValueError") as err:
        step()
    assert "001195012345" not in str(err.value) and "001195012345" not in caplog.text
    assert err.value.__cause__ is None and err.value.__suppress_context__

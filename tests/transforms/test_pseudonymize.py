import pyarrow as pa
import pytest

from transforms.pseudonymize import pseudonymize

KEY = b"k" * 32


def test_deterministic_and_joinable_within_domain():
    a = pseudonymize(pa.array(["001190012345", None]), KEY, "person").to_pylist()
    b = pseudonymize(pa.array(["001190012345"]), KEY, "person").to_pylist()
    assert a[0] == b[0] and a[1] is None
    assert "001190012345" not in a[0] and len(a[0]) == 32


def test_domain_and_key_separate():
    base = pseudonymize(pa.array(["x"]), KEY, "person").to_pylist()[0]
    assert pseudonymize(pa.array(["x"]), KEY, "health_card").to_pylist()[0] != base
    assert pseudonymize(pa.array(["x"]), b"z" * 32, "person").to_pylist()[0] != base


def test_short_key_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonymize(pa.array(["x"]), b"short", "person")

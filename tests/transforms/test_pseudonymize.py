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


def _reference(value: str, key: bytes, domain: str) -> str:
    """The documented definition, computed independently: HMAC-SHA256(key, domain 0x1f value), hex[:32]."""
    import hashlib
    import hmac

    return hmac.new(key, domain.encode() + b"\x1f" + value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def test_every_value_gets_its_own_pseudonym_whatever_the_batch_and_its_order():
    """Cross-dataset joins depend on a value always getting the same pseudonym: over many values
    with duplicates and nulls, in chunked input, and across two calls in different orders, each
    pseudonym equals the one computed for that value alone (a digest list assigned to the wrong
    values - reversed, shifted, sorted differently - fails here)."""
    import random

    rng = random.Random(6)
    distinct = [f"{rng.randrange(10**12):012d}" for _ in range(300)] + ["", "Lê Thị Hoa", "0" * 12]
    values = [rng.choice(distinct) if rng.random() > 0.1 else None for _ in range(2000)]
    alone = {v: pseudonymize(pa.array([v]), KEY, "person").to_pylist()[0] for v in set(values) if v is not None}
    assert all(alone[v] == _reference(v, KEY, "person") for v in alone)

    first = pseudonymize(pa.array(values), KEY, "person").to_pylist()
    shuffled = values[:]
    rng.shuffle(shuffled)
    chunked = pa.chunked_array([pa.array(shuffled[:700], pa.string()), pa.array(shuffled[700:], pa.string())])
    second = pseudonymize(chunked, KEY, "person").to_pylist()
    for batch, out in ((values, first), (shuffled, second)):
        assert len(out) == len(batch)
        for v, p in zip(batch, out, strict=True):
            assert p is None if v is None else p == alone[v]
    assert len({p for p in first if p}) == len(alone)  # distinct values, distinct pseudonyms


@pytest.mark.parametrize("key", [b"k" * 16, b"k" * 64, b"long-key-" * 20], ids=["16", "block", "longer-than-block"])
def test_pseudonym_is_hmac_sha256_for_any_key_length(key):
    """HMAC is computed from primed hash states; keys longer than SHA-256's block are hashed first
    (RFC 2104) - every length gives the documented HMAC."""
    values = ["001190012345", "Lê Thị Hoa", ""]
    assert pseudonymize(pa.array(values), key, "person").to_pylist() == [_reference(v, key, "person") for v in values]


def test_a_memo_shared_by_chunks_gives_the_same_pseudonyms_and_is_bounded(monkeypatch):
    """A publish hashes each value once across its chunks: with a memo every pseudonym is the one
    computed alone, values met before are taken from it (not hashed again), and it stops growing
    at its bound."""
    import transforms.pseudonymize as module

    memo: dict[str, str] = {}
    first = pseudonymize(pa.array(["a1", "b2", None, "a1"]), KEY, "person", memo=memo).to_pylist()
    assert first == [_reference("a1", KEY, "person"), _reference("b2", KEY, "person"), None,
                     _reference("a1", KEY, "person")]
    assert memo == {"a1": first[0], "b2": first[1]}
    memo["b2"] = "taken-from-the-memo"  # a value met in an earlier chunk is not hashed again
    second = pseudonymize(pa.array(["b2", "c3"]), KEY, "person", memo=memo).to_pylist()
    assert second == ["taken-from-the-memo", _reference("c3", KEY, "person")]
    monkeypatch.setattr(module, "MEMO_MAX", 3)
    pseudonymize(pa.array(["d4", "e5"]), KEY, "person", memo=memo)
    assert len(memo) == 3 and "c3" in memo and "d4" not in memo and "e5" not in memo

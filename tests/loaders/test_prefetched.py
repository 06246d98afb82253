"""The curated night read runs a chunk ahead in a background thread: same chunks, same order, the
source's errors raised at the consumer, and an early stop closes the source (its connection)."""

import threading

import pytest

from loaders.prefetch import prefetched


def _source(n, log, fail_at=None):
    try:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError(f"read failed at chunk {i}")
            log.append(("read", i, threading.current_thread().name))
            yield i
    finally:
        log.append(("closed",))


def test_every_chunk_in_order_read_in_the_background():
    log = []
    assert list(prefetched(_source(7, log), depth=2, name="reader-7")) == list(range(7))
    assert all(entry[2] == "reader-7" for entry in log if entry[0] == "read")  # in the named thread
    assert log[-1] == ("closed",)


def test_an_error_of_the_source_is_raised_where_it_happened():
    chunks = prefetched(_source(7, [], fail_at=3))
    assert [next(chunks) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match="read failed at chunk 3"):
        next(chunks)


def test_stopping_early_closes_the_source_and_ends_the_thread():
    log = []
    chunks = prefetched(_source(1000, log), depth=2)
    assert next(chunks) == 0
    chunks.close()
    assert log[-1] == ("closed",)
    assert len([e for e in log if e[0] == "read"]) <= 4  # read ahead by the queue's depth, not to the end
    assert not any(t.name == "curated-prefetch" for t in threading.enumerate())

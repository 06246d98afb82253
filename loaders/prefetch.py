"""A chunk iterator read ahead by a background thread (:func:`prefetched`)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

#: Chunks read ahead by :func:`prefetched`.
PREFETCH_CHUNKS = 2


def prefetched(chunks: Iterator[pa.Table], depth: int = PREFETCH_CHUNKS,
               name: str = "prefetch") -> Iterator[pa.Table]:
    """``chunks``, read by a background thread up to ``depth`` chunks ahead.

    Worth it when producing a chunk releases the GIL: the curated publish reading the night back
    (the driver decodes PostgreSQL's COPY stream in C++) overlaps the pseudonymization of the
    chunk before it; the shard's read of a large CSV (pyarrow's parser) overlaps the conform and
    validation of the chunk before it. The source is iterated and closed in that thread only (a
    database connection, an open file with it); an error there is raised here, at the chunk where
    it happened. If the consumer stops early, the thread stops at its next chunk and closes the
    source.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put((kind, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put("chunk", chunk):
                    return
            put("done", None)
        except BaseException as exc:  # handed to the consumer, raised there
            put("error", exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "error":
                raise item
            if kind == "done":
                return
            yield item
    finally:
        stop.set()
        thread.join()

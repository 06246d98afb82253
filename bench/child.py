"""Run one benchmark step in a fresh interpreter, so each measurement pays its own imports and
keeps its own peak memory (``ru_maxrss`` of the child)."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import time
from typing import Any

#: A step that has not answered after this long is killed (a hung server, a deadlock).
TIMEOUT_S = 7200


def in_child(target: Any, *args: Any, timeout_s: float = TIMEOUT_S) -> Any:
    """Call ``target(*args, queue)`` in a spawned process; return what it put on the queue.

    Raises:
        RuntimeError: the child died without answering, or did not answer within ``timeout_s``.
    """
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, q))
    proc.start()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = q.get(timeout=2)
            break
        except queue_mod.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"benchmark step {target.__name__} died (exit code {proc.exitcode})") from None
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"benchmark step {target.__name__} timed out after {timeout_s:.0f} s") from None
    proc.join()
    return result

"""Run a public entry point (``python -m <module> …``) with kill points, for ``tools.chaos``.

    python -m tools.chaos_child cli.backfill --from 2026-11-21 --to 2026-11-23

Kill points are named places every run passes through, hooked from *outside* the pipeline's
code (library events, not edits to the runner), so they keep working when the runner is
rewritten:

* ``sql``     — before any SQL statement sent through SQLAlchemy (inside a load transaction,
  between transactions, in the ledger write, in the curated read);
* ``commit``  — at a transaction's COMMIT, before the database has it;
* ``replace`` — before any ``os.replace`` / ``Path.replace`` (the curated partition swap, raw
  manifests, the quarantine zone's files).

Environment:

* ``S06_CHAOS_KILL=<point>:<n>`` — send this process SIGKILL at the n-th passage of that point
  (no ``finally``, no ``atexit``: exactly what ``kill -9`` from outside does at that instant);
* ``S06_CHAOS_COUNT=<file>`` — write ``{point: passages}`` there at exit (the inventory a clean
  run passes through, from which ``tools.chaos`` draws kill points uniformly).
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import sys
from collections import Counter
from pathlib import Path

POINTS = ("sql", "commit", "replace")


def install(kill: tuple[str, int] | None, count_file: Path | None) -> Counter[str]:
    """Hook the kill points into SQLAlchemy and ``os.replace``; returns the live counters."""
    import sqlalchemy as sa

    counts: Counter[str] = Counter()

    def passage(point: str) -> None:
        counts[point] += 1
        if kill is not None and kill[0] == point and counts[point] == kill[1]:
            os.kill(os.getpid(), signal.SIGKILL)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", lambda *_a, **_k: passage("sql"))
    sa.event.listen(sa.engine.Engine, "commit", lambda *_a, **_k: passage("commit"))
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        passage("replace")
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace  # Path.replace calls os.replace
    if count_file is not None:
        atexit.register(lambda: count_file.write_text(json.dumps(dict(counts)), encoding="utf-8"))
    return counts


def parse_kill(value: str | None) -> tuple[str, int] | None:
    """``"sql:120"`` -> ``("sql", 120)``."""
    if not value:
        return None
    point, _, n = value.partition(":")
    if point not in POINTS or not n.isdigit() or int(n) < 1:
        raise SystemExit(f"S06_CHAOS_KILL must be <{'|'.join(POINTS)}>:<n>, not {value!r}")
    return point, int(n)


def main(argv: list[str]) -> None:
    """Install the hooks, then run ``python -m <module> <args>`` in this process."""
    if not argv:
        raise SystemExit("usage: python -m tools.chaos_child <module> [args...]")
    count = os.environ.get("S06_CHAOS_COUNT")
    install(parse_kill(os.environ.get("S06_CHAOS_KILL")), Path(count) if count else None)
    module, *args = argv
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])

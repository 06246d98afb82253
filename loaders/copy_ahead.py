"""Copy ahead: a large first load reaches PostgreSQL while its file is still being judged.

A night's work is client-bound while a file is read, conformed and validated (one core busy,
the database idle), then server-bound while the valid rows are copied into staging (the database
busy, the client waiting). For a large file into an *empty* current table (a dataset's first
night, an initial backfill) the two can overlap: the valid rows of each judged chunk are sent
to a ``COPY`` on a connection of their own while the next chunk is judged, in the very
transaction that will later write the batch's findings, ledger row and change feed and commit.

It changes when the rows travel, never what is stored or what a batch's outcome is:

* it starts only when the current table is empty under the dataset lock (the lock is then held
  until commit, as a load holds it), so every key of the file is new: the plain first-load path
  (``COPY`` straight into the table) is exactly what the load would have done;
* the load uses the copied rows only if the batch is loadable as a whole (not held back, not
  failed, no key repeated, the rows copied are the rows spilled); otherwise, and on any error of
  the copy (a repeated key breaks the primary key), the transaction is rolled back and the batch
  is loaded the ordinary way from its work files. A crash leaves an uncommitted transaction that
  PostgreSQL rolls back.

While the copy is open, other loads of the same dataset wait for the dataset lock as they would
wait for the load; readers see the table as it was (empty) until commit. The table keeps its
indexes (dropping them would lock out the batch's own lookups of the table meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loaders import locks, staging
from loaders.schema import data_columns

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Connection, Engine

    from config.contracts import DatasetContract

log = logging.getLogger(__name__)

#: How long to wait for the dataset lock before giving up on copying ahead (another batch of the
#: dataset is loading: the table is then probably not empty anyway).
LOCK_WAIT_S = 1.0
#: Judged chunks waiting for the copy thread (each up to ``chunk_rows`` rows): bounds memory when
#: the database is slower than the judging.
QUEUE_CHUNKS = 2
_END = object()
_ABANDON = object()


class CopyAheadUnusable(Exception):
    """The copied rows are not what the load needs: roll back and load the ordinary way."""


class CopyAhead:
    """One batch's valid rows, copied into the dataset's empty current table as they are judged.

    Use :meth:`begin` (None when copying ahead does not apply), :meth:`send` each judged chunk's
    valid rows, :meth:`close` after the file's last chunk, then :meth:`transaction` to finish
    the load in the same transaction, or :meth:`abandon`.
    """

    def __init__(self, contract: DatasetContract, batch_id: str, conn: Connection, schema: pa.Schema) -> None:
        self.contract = contract
        self.batch_id = batch_id
        self.conn = conn
        self.schema = schema
        self.rows = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._copy, name=f"copy-ahead-{contract.dataset}", daemon=True)
        self._closed = False
        self._feed: pa.Table | None = None
        self._prepared = False
        self._thread.start()

    @classmethod
    def begin(cls, engine: Engine, contract: DatasetContract, batch_id: str) -> CopyAhead | None:
        """Open the transaction and the ``COPY``; None when the table is not empty, the dataset lock
        is busy, the store is not PostgreSQL or a column type has no binary encoding."""
        if engine.dialect.name != "postgresql" or not staging.feed_from_arrow(contract):
            return None
        conn = engine.connect()
        try:
            conn.begin()
            locks.hold(conn, locks.dataset(contract.dataset), timeout_s=LOCK_WAIT_S)
            empty = conn.exec_driver_sql(f'SELECT NOT EXISTS (SELECT 1 FROM "{contract.dataset}")').scalar()
            names = [n for n, _ in data_columns(contract)]
            schema = staging.binary_schema(conn, contract.dataset, names) if empty else None
            if schema is None:
                conn.close()  # rolls back: nothing was written
                return None
            return cls(contract, batch_id, conn, schema)
        except Exception as exc:  # the ordinary load follows; it reports real problems
            log.info("%s: not copying ahead (%s)", contract.dataset, type(exc).__name__)
            with contextlib.suppress(Exception):
                conn.close()
            return None

    # ------------------------------------------------------------------ the copy thread

    def _copy(self) -> None:
        import pgpq

        order = [(k, "ascending") for k in self.contract.natural_key]
        names = ", ".join(f'"{f.name}"' for f in self.schema)
        try:
            cur: Any = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            encoder = pgpq.ArrowToPostgresBinaryEncoder(self.schema)
            with cur.copy(f'COPY "{self.contract.dataset}" ({names}) FROM STDIN WITH (FORMAT binary)') as copy:
                copy.write(encoder.write_header())
                while True:
                    item = self._queue.get()
                    if item is _END:
                        break
                    if item is _ABANDON:
                        raise CopyAheadUnusable("abandoned")  # psycopg ends the COPY with an error
                    # In key order, as the load copies (the primary key's pages in sequence).
                    table = staging.binary_chunk(item.sort_by(order) if item.num_rows > 1 else item, self.schema)
                    for batch in table.to_batches():
                        copy.write(encoder.write_batch(batch))
                    self.rows += table.num_rows
                copy.write(encoder.finish())
        except BaseException as exc:  # reported by finish(); the load then falls back
            self.error = exc
            self._drain()

    def _drain(self) -> None:
        """Empty the queue so a sender blocked on it returns (the copy has stopped)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    # ------------------------------------------------------------------ the judging side

    @property
    def broken(self) -> bool:
        """The copy stopped (an error, or abandoned): the load will not use it."""
        return self.error is not None

    def send(self, table: pa.Table | None) -> None:
        """Queue one judged chunk's valid rows (waits while :data:`QUEUE_CHUNKS` are pending)."""
        if table is None or not table.num_rows or self._closed:
            return
        while not self.broken:
            try:
                self._queue.put(table, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """No more rows: the copy ends once the queued chunks are sent."""
        if not self._closed:
            self._closed = True
            self._put(_END)

    def _put(self, item: object) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> int | None:
        """Wait for the copy; the rows copied, or None when it failed (then rolled back)."""
        self.close()
        self._thread.join()
        if self.error is not None:
            if not isinstance(self.error, CopyAheadUnusable):
                log.info("%s: the copy ahead stopped (%s); loading the ordinary way", self.contract.dataset,
                         type(self.error).__name__)
            self._rollback()
            return None
        return self.rows

    def abandon(self) -> None:
        """Give the copy up: its transaction is rolled back, nothing of it stays."""
        if not self._closed:
            self._closed = True
            self._put(_ABANDON)
        self._thread.join()
        if self.error is None:
            self.error = CopyAheadUnusable("abandoned")
        self._rollback()

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()  # a connection closed inside its transaction rolls it back

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The copy's transaction, to finish the load in: committed when the block succeeds,
        rolled back if it raises."""
        try:
            yield self.conn
            self.conn.commit()
        finally:
            self._rollback()

    def prepare(self, source: staging.ChunkSource) -> None:
        """Build the change feed's rows from the batch's rows (client work, done while the copy
        drains); :meth:`complete` then only copies them."""
        self._feed = staging.feed_rows(self.contract, source)
        self._prepared = True

    def complete(self, conn: Connection) -> dict[str, staging.UpsertCounts]:
        """The rest of the first load (the change feed :meth:`prepare` built) and its counts."""
        if not self._prepared:
            raise RuntimeError("CopyAhead.complete before prepare")
        feed, self._feed = self._feed, None
        return staging.first_load_counts(staging.copy_feed_rows(conn, self.contract, feed) if feed is not None else {})

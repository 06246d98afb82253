"""Reader of landed API pages (``page-00001.json``): string-typed Arrow chunks with lineage.

A page is a JSON document whose ``data`` list holds the records; it is read like any JSON
document (:func:`extractors.formats.read_json_document`: values as written, booleans ``"1"`` /
``"0"``, nested values as compact JSON), with ``_source_ref`` = ``page-00001.json#data[3]``
(1-based). A page that is not valid JSON or has no ``data`` list raises
:class:`~extractors.formats.FileRejected` with a reason free of file content.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from extractors.formats import read_json_document


def read_json_pages(path: Path, chunk_rows: int, encoding: str = "auto") -> Iterator[pa.Table]:
    """Read one landed API page: the records of its ``data`` list, ``chunk_rows`` at a time."""
    return read_json_document(path, chunk_rows, encoding, records_key="data", ref_prefix=f"{path.name}#",
                              what="API page")

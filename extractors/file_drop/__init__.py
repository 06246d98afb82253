"""File-drop extractor: facilities deliver files to ``<drop>/<facility>/<dataset>/<YYYY-MM-DD>/``.

The date folder is the local night of delivery; the run for data interval ``[D, D+1)`` (local
time) takes folder ``D``. Files are copied unchanged into the raw zone with a manifest before
anything reads them, so what was received is kept even if parsing later fails. The drop is not
trusted: see :mod:`extractors.file_drop.helpers` (no link followed, odd entries refused with a
reason and returned as ``LandedFile(refused=...)``).
"""

from __future__ import annotations

from extractors.file_drop.helpers import (
    Discovery,
    DropUnreachable,
    LandedFile,
    Refused,
    discover,
    discover_files,
    fetch_remote_drop,
    land_files,
    open_drop_file,
    safe_name,
    sniff_format,
)

__all__ = ["Discovery", "DropUnreachable", "LandedFile", "Refused", "discover", "discover_files",
           "fetch_remote_drop", "land_files", "open_drop_file", "safe_name", "sniff_format"]

"""File-drop extractor: facilities deliver files to ``<drop>/<facility>/<dataset>/<YYYY-MM-DD>/``.

The date folder is the local night of delivery; the run for data interval ``[D, D+1)`` (local
time) takes folder ``D``. Files are copied unchanged into the raw zone with a manifest before
anything reads them, so what was received is kept even if parsing later fails.
"""

from __future__ import annotations

from extractors.file_drop.helpers import LandedFile, discover_files, land_files, sniff_format

__all__ = ["LandedFile", "discover_files", "land_files", "sniff_format"]

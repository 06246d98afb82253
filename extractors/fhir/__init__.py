"""FHIR sources: Bulk Data NDJSON files, search over REST, and the views that flatten resources.

* :func:`read_fhir_ndjson` (reader ``fhir_ndjson``) and :func:`read_fhir_bundles` (reader
  ``fhir_bundle``) turn FHIR resources into the string-typed chunks every reader yields, through a
  view (``config/fhir/<view>.yaml``), resolving references within the export;
* :func:`fetch_search_to_raw` lands one data interval of a FHIR search (``_lastUpdated`` window,
  ``_count``, ``next`` links, ``_include`` or a second query) in the raw zone, reusing the REST
  extractor's retries, backoff and authentication;
* :func:`outcome_summary` turns an ``OperationOutcome`` into a content-free reason.

See ``extractors/fhir/README.md``.
"""

from __future__ import annotations

from extractors.fhir.fhirpath import PathError, compile_path, evaluate, reference_key
from extractors.fhir.outcome import outcome_issues, outcome_summary
from extractors.fhir.readers import read_fhir_bundles, read_fhir_ndjson
from extractors.fhir.search import fetch_search_to_raw
from extractors.fhir.views import View, ViewError, load_view, parse_view

__all__ = [
    "PathError",
    "View",
    "ViewError",
    "compile_path",
    "evaluate",
    "fetch_search_to_raw",
    "load_view",
    "outcome_issues",
    "outcome_summary",
    "parse_view",
    "read_fhir_bundles",
    "read_fhir_ndjson",
    "reference_key",
]

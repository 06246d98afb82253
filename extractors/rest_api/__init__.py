"""REST API extractor: fetch a facility's records updated in the run's data interval.

``fetch_to_raw`` pages through ``GET <base>/<path>?updated_from=..&updated_to=..`` (page- or
cursor-paginated), lands every page body unchanged in the raw zone with a manifest, and
``read_json_pages`` turns a landed page into string-typed Arrow chunks (reader ``json_pages``).
Credentials come from an Airflow connection (``connection_config``), never from the registry.
"""

from __future__ import annotations

from extractors.rest_api.client import (
    AuthConfig,
    BackoffPolicy,
    FetchResult,
    connection_config,
    fetch_options,
    fetch_to_raw,
    is_retryable_status,
    parse_retry_after,
)
from extractors.rest_api.errors import (
    ApiAuthRejected,
    ApiBodyUnusable,
    ApiProtocolError,
    ApiRequestRejected,
    ApiTransportError,
    FetchFailed,
)
from extractors.rest_api.pages import read_json_pages

__all__ = [
    "ApiAuthRejected",
    "ApiBodyUnusable",
    "ApiProtocolError",
    "ApiRequestRejected",
    "ApiTransportError",
    "AuthConfig",
    "BackoffPolicy",
    "FetchFailed",
    "FetchResult",
    "connection_config",
    "fetch_options",
    "fetch_to_raw",
    "is_retryable_status",
    "parse_retry_after",
    "read_json_pages",
]

"""Exceptions of the REST API extractor, mapped onto the pipeline's retry behaviour.

* :class:`ApiTransportError` (a :class:`~config.errors.TransportError`): the facility's API could
  not be reached or kept failing with a retryable fault (connection error, timeout, HTTP 429/5xx,
  truncated body) after every attempt. The task may be retried later.
* :class:`FetchFailed` (a :class:`~config.errors.BatchFailed`) and its subclasses
  :class:`ApiRequestRejected` / :class:`ApiAuthRejected` / :class:`ApiProtocolError`: retrying will
  not help (bad request, credentials rejected, a server repeating pages); someone has to look.

Messages name the status or exception type, the endpoint path, the page and the attempt count.
They never quote a response body (it may hold personal data), a credential or a token.
"""

from __future__ import annotations

from config.errors import BatchFailed, TransportError


class ApiTransportError(TransportError):
    """Retryable faults persisted through every attempt (retries exhausted)."""

    def __init__(self, message: str, *, page: int, attempts: int, reason: str) -> None:
        super().__init__(message)
        self.page = page
        self.attempts = attempts
        self.reason = reason


class ApiBodyUnusable(ApiTransportError):
    """The server answered every attempt, but not with JSON (an HTML maintenance page, a body cut
    short, a number written ``079``): still retried by the task (a maintenance page ends), but not
    called unreachable."""

    label = "source answered, but not with JSON"


class FetchFailed(BatchFailed):
    """The fetch failed in a way retrying will not fix (base of the non-retryable API errors)."""


class ApiRequestRejected(FetchFailed):
    """The server refused the request with a non-retryable 4xx status."""

    def __init__(self, message: str, *, status: int, page: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.page = page


class ApiAuthRejected(ApiRequestRejected):
    """Credentials or token rejected (401/403), also after one token refresh."""


class ApiProtocolError(FetchFailed):
    """The server broke the pagination contract (repeated page, bad shape, endless paging)."""

    def __init__(self, message: str, *, page: int | None = None) -> None:
        super().__init__(message)
        self.page = page

"""Sample facility REST API (real HTTP on 127.0.0.1) serving generated JSON-lines data.

Used by the REST API extractor's tests and by demos; faults (slow responses, 5xx, 429,
truncated bodies, repeated pages, expired or rejected tokens, 400) can be switched on per server.
Dev only: the default user ``s06``/``secret`` is not a real credential.
"""

from __future__ import annotations

from sample_data.api_server.server import FAULT_MODES, ROUTES, Fault, LoggedRequest, ServerHandle, start_server

__all__ = ["FAULT_MODES", "ROUTES", "Fault", "LoggedRequest", "ServerHandle", "start_server"]

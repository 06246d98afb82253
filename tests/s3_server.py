"""A real S3-compatible server on loopback for the tests: moto's server mode (HTTP on 127.0.0.1).

The server runs in a thread of the test process, on a free port; clients reach it through the
standard AWS environment variables (``AWS_ENDPOINT_URL`` and dummy credentials), exactly as a
deployment reaches its object store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any


@dataclass
class S3Server:
    """A running server and how to reach it."""

    endpoint: str
    _server: Any

    @property
    def env(self) -> dict[str, str]:
        """The environment a client needs (dummy credentials: the server accepts any)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test-key-id",
                "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self) -> Any:
        """A boto3 S3 client of this server (for test set-up: buckets, odd object names)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test-key-id",
                            aws_secret_access_key="test-secret", region_name="us-east-1")

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()


def start_server() -> S3Server:
    """Start moto's S3-compatible server on 127.0.0.1 (a free port)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    return S3Server(f"http://{host}:{port}", server)

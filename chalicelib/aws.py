"""boto3 clients, built once per process on first use.

boto3 is imported here lazily: the alert forwarder never needs it (unless it reads SSM), and
importing it costs a cold start about 100 ms. boto3 honours ``AWS_ENDPOINT_URL`` by itself,
which is how the tests and the local stack point these clients at moto's server.
"""

import threading
from typing import Any

# Short timeouts on the request path: API Gateway gives up after 29 s, and a caller is better
# served by a quick 503 than a hung page-load beacon. The archiver can afford to wait longer.
_CLIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "sqs": {"connect_timeout": 2, "read_timeout": 5, "retries": {"mode": "standard", "max_attempts": 3}},
    "dynamodb": {"connect_timeout": 2, "read_timeout": 5, "retries": {"mode": "standard", "max_attempts": 3}},
    "s3": {"connect_timeout": 5, "read_timeout": 30, "retries": {"mode": "standard", "max_attempts": 5}},
    "ssm": {"connect_timeout": 5, "read_timeout": 10, "retries": {"mode": "standard", "max_attempts": 5}},
}
DEFAULT_REGION = "us-east-1"

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """The process-wide client for ``service`` (sqs, dynamodb, s3 or ssm)."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    # boto3's default session is not safe to create clients from concurrently (chalice local
    # serves requests on threads), so creation is serialised.
    with _lock:
        if service not in _clients:
            _clients[service] = _make_client(service)
        return _clients[service]


def reset() -> None:
    """Forget every client, so the next call builds one against the current environment."""
    with _lock:
        _clients.clear()


def _make_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return session.client(
        service,
        region_name=session.region_name or DEFAULT_REGION,
        config=Config(**_CLIENT_OPTIONS[service]),
    )

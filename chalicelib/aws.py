"""boto3 clients, built once per process on first use.

boto3 is imported here lazily: the alert forwarder needs it only for what it calls itself (its
state store, alarm graphs, SSM), and importing it costs a cold start about 100 ms. boto3 honours
``AWS_ENDPOINT_URL`` by itself, which is how the tests and the local stack point these clients at
moto's server.
"""

import threading
from typing import Any

# Every worst case (attempts x (connect + read) + backoff) stays inside its function's Lambda
# timeout in .chalice/config.json, so a hung dependency ends as the documented 503 or a raised
# error, never as a Lambda timeout (a bare 502 from API Gateway, without CORS headers).
# total_max_attempts counts the first attempt too (botocore's max_attempts would count only retries).
# API: 2 x (1 + 2) s + backoff, about 8 s a call; a caller is better served by a quick 503.
_REQUEST_PATH = {"connect_timeout": 1, "read_timeout": 2, "retries": {"mode": "standard", "total_max_attempts": 2}}
_CLIENT_OPTIONS: dict[str, dict[str, Any]] = {
    "sqs": _REQUEST_PATH,
    "dynamodb": _REQUEST_PATH,
    # The archiver (60 s): 3 x (3 + 10) s + backoff.
    "s3": {"connect_timeout": 3, "read_timeout": 10, "retries": {"mode": "standard", "total_max_attempts": 3}},
    # The forwarder (90 s): 3 x (2 + 5) s + backoff, then the Discord poster's 40 s deadline.
    "ssm": {"connect_timeout": 2, "read_timeout": 5, "retries": {"mode": "standard", "total_max_attempts": 3}},
    # The forwarder's alarm graph (chalicelib.graphs): best effort, so one attempt of at most 1 + 4 s.
    # A throttle or a slow render means the alert goes without its graph, never later.
    "cloudwatch": {"connect_timeout": 1, "read_timeout": 4, "retries": {"mode": "standard", "total_max_attempts": 1}},
    # The forwarder's alert state: 2 x (1 + 2) s + backoff, about 7 s, and the first call that fails
    # ends the stateful path (the alert is posted without state, or the invocation raises; no
    # further call is tried). So with SSM (22 s, cold starts only), waiting for other invocations'
    # claims (5 + 5 s) and Discord's one deadline per record (40 s), the worst case is near 80 s.
    "dynamodb-alerts": _REQUEST_PATH,
}
# Clients that are a second configuration of one service: name -> the service it is.
_SERVICE_OF = {"dynamodb-alerts": "dynamodb"}
DEFAULT_REGION = "us-east-1"

_clients: dict[tuple[str, str | None], Any] = {}
# One boto3 session for every client: a second client from the same session reuses its loaded
# data files and costs about 12 ms instead of 75 (the API's init builds two).
_session: Any = None
_lock = threading.Lock()


def client(service: str, region: str | None = None) -> Any:
    """The process-wide client for ``service`` (sqs, dynamodb, s3, ssm, cloudwatch; dynamodb-alerts: the forwarder's).

    ``region`` is for calls that must be made where the resource lives (an alarm's graph is
    drawn in the alarm's region); without it the client is in the function's own region.
    """
    key = (service, region)
    existing = _clients.get(key)
    if existing is not None:
        return existing
    # boto3's default session is not safe to create clients from concurrently (chalice local
    # serves requests on threads), so creation is serialised.
    with _lock:
        if key not in _clients:
            _clients[key] = _make_client(service, region)
        return _clients[key]


def built() -> list[str]:
    """The services whose client this process has built so far (``service@region`` where one was named)."""
    return sorted(f"{service}@{region}" if region else service for service, region in _clients)


def reset() -> None:
    """Forget every client, so the next call builds one against the current environment."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def _make_client(service: str, region: str | None = None) -> Any:
    # Called under _lock: a boto3 session is not safe to create clients from concurrently.
    global _session
    import boto3
    from botocore.config import Config

    # Any: the service is named at run time, which the stubs' per-service overloads cannot type.
    session: Any = _session or boto3.session.Session()
    made = session.client(
        _SERVICE_OF.get(service, service),
        region_name=region or session.region_name or DEFAULT_REGION,
        config=Config(**_CLIENT_OPTIONS[service]),
    )
    if service == "s3":
        _write_only_new_keys(made)
    # Kept only once it has made a client, so a session from a broken configuration is not.
    _session = session
    return made


def _write_only_new_keys(s3: Any) -> None:
    # Every PutObject of this client is conditional on the key being new: the archive never lets one
    # batch overwrite another (only the archiver writes to S3). put_object's IfNoneMatch parameter
    # needs botocore 1.35+, and the package leaves boto3 to the Lambda runtime, whose bundled SDK may
    # be older; the header itself works with any botocore, added before signing so it is signed.
    s3.meta.events.register("before-sign.s3.PutObject", _if_none_match, unique_id="archive-if-none-match")


def _if_none_match(request: Any, **_: Any) -> None:
    request.headers["If-None-Match"] = "*"

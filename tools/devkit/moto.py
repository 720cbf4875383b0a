"""moto's AWS emulator on loopback: in this process for the unit tests, or as a child process.

``in_process()`` is moto's own threaded server, for tests that need nothing more. Everything else
(the local stack, the benchmark, the reliability suite) runs ``python -m tools.devkit.moto [--port N]
[--count]`` through ``MotoProcess``: a process of its own that stops on SIGTERM, or when the parent
that started it with a lifeline is gone.

``--count`` puts WSGI middleware in front of moto that counts every request by operation, whoever
sent it, so AWS calls are counted on the wire; ``GET /_devkit/requests`` answers the counts, and
requests that carry the ``X-Devkit-Uncounted`` header (set-up and checking) are left out.

Both launchers add CloudWatch's ``GetMetricWidgetImage``, which moto lacks: ``tools.devkit.widget_image``
draws the widget from the datapoints moto holds.

One performance fix is applied to moto's SQS: moto 5.2.5 checks each received message's
retention by computing every queue attribute, three of which count all messages in the queue, so
receiving slows down as the queue grows and a load test's backlog drains in minutes. The rule it
checks is unchanged.

One fidelity fix is applied to moto's DynamoDB: DynamoDB applies each conditional write atomically,
but moto 5.2.5 checks the condition and then writes without a lock, so two concurrent requests can
both pass one condition. Its writes are serialised, as the alert forwarder's locks rely on.

Both patch moto's internals; tests/test_devkit_moto.py fails when either stops applying to the
installed moto.
"""

import argparse
import json
import logging
import re
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tools.devkit import process
from tools.devkit.names import HOST

logger = logging.getLogger("tools.devkit.moto")

COUNTS_PATH = "/_devkit/requests"
UNCOUNTED_HEADER = "X-Devkit-Uncounted"
LISTENING = re.compile(r"moto listening on \S+:(\d+)")
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_S3_VERBS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


@contextmanager
def in_process() -> Iterator[str]:
    """moto's threaded server (what ThreadedMotoServer runs, with the devkit additions) in this
    process on a free port; yields its endpoint."""
    from werkzeug.serving import make_server

    atomic_dynamodb_writes()
    server = make_server(HOST, 0, application(), threaded=True, request_handler=_request_handler())
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def application(count: bool = False) -> Any:
    """moto's WSGI app with GetMetricWidgetImage added (and, with ``count``, the request counter)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from tools.devkit import widget_image

    app: Any = widget_image.Middleware(DomainDispatcherApplication(create_backend_app))
    return CountingMiddleware(app) if count else app


def _request_handler() -> Any:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


class MotoProcess:
    """``python -m tools.devkit.moto`` as a child: ``with MotoProcess(count=True) as moto: moto.endpoint``."""

    def __init__(self, port: int = 0, *, count: bool = False, env: dict[str, str] | None = None) -> None:
        args = ["--port", str(port)] + (["--count"] if count else [])
        self.process = process.OutputProcess.python("tools.devkit.moto", *args, env=env)
        self.endpoint = ""

    def __enter__(self) -> "MotoProcess":
        try:
            port = self.process.wait_for_line(LISTENING, timeout=60)[1]
        except TimeoutError:
            self.process.kill()
            raise
        self.endpoint = f"http://{HOST}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop(timeout=10)

    def counts(self) -> Counter[str]:
        """Requests per ``service:Operation`` so far (callers take differences); needs ``count=True``."""
        with urllib.request.urlopen(self.endpoint + COUNTS_PATH, timeout=10) as response:  # noqa: S310 (loopback)
            return Counter(json.loads(response.read()))


def uncounted(client: Any) -> Any:
    """``client`` with every request marked as set-up, which the counter leaves out."""
    client.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(UNCOUNTED_HEADER, "1"))
    return client


def operation(environ: dict[str, Any]) -> str:
    """``service:Operation`` of one request, from its signature and target header (never its body)."""
    match = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    method = environ.get("REQUEST_METHOD", "?")
    if service == "s3":
        return f"s3:{_S3_VERBS.get(method, method)}"
    return f"{service}:{method} {environ.get('PATH_INFO', '')}"


class CountingMiddleware:
    """Counts each request by operation, then hands it to moto unchanged."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == COUNTS_PATH:
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        header = "HTTP_" + UNCOUNTED_HEADER.upper().replace("-", "_")
        if not path.startswith("/moto-api") and header not in environ:
            with self.lock:
                self.counts[operation(environ)] += 1
        return self.app(environ, start_response)


def serve(port: int, count: bool) -> int:
    stopping = process.stop_event()
    process.exit_with_parent()
    process.log_to_stdout("aws")
    # One line per request would drown everything else; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from werkzeug.serving import make_server

    _bounded_receive_cost()
    atomic_dynamodb_writes()
    app = application(count)
    try:
        # What moto's ThreadedMotoServer does, minus its thread: a bind error must end this process.
        server = make_server(HOST, port, app, threaded=True, request_handler=_request_handler())
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", HOST, port, error)
        return 2
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    logger.info("moto listening on %s:%d", HOST, server.server_address[1])
    stopping.wait()
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    return 0


def _bounded_receive_cost() -> None:
    """Make moto's retention check per received message O(1) instead of O(messages in the queue).

    Works around moto 5.2.5's ``SQSBackend.is_message_valid_based_on_retention_period``, which
    ``receive_message`` calls per message and which computes every queue attribute (three of them
    count the whole queue) to read one. tests/test_devkit_moto.py fails if the patch stops applying.
    """
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if not hasattr(SQSBackend, "is_message_valid_based_on_retention_period"):
        return  # a moto that no longer has the slow check

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_dynamodb_lock = threading.RLock()


def atomic_dynamodb_writes() -> None:
    """Make each of moto's DynamoDB writes (condition check and write) one step, as in DynamoDB.

    Works around moto 5.2.5's ``DynamoDBBackend`` write methods, which check a condition and then
    write without a lock, so two concurrent conditional writes can both pass. tests/test_devkit_moto.py
    fails if one of them is missing or another write method appears.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_devkit_atomic", False):
            continue

        def serialised(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_lock:
                return _original(self, *args, **kwargs)

        serialised._devkit_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devkit.moto", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed when listening)")
    parser.add_argument("--count", action="store_true", help="count requests by operation")
    args = parser.parse_args(argv)
    return serve(args.port, args.count)


if __name__ == "__main__":
    sys.exit(main())

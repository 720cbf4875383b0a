"""The PageLoad EMF record, and aws-embedded-metrics without aiohttp until EC2 is asked for (chalicelib.lazy_ec2).

Each case is a fresh interpreter, since what matters is what the library's first import loads.
A library version that imports aiohttp elsewhere, moves its EC2 module or changes that class's
methods fails here, as does any change to the record's bytes.
"""

import http.server
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import lazy_ec2
from tools.devkit import process

EC2_MODULE = "aws_embedded_metrics.environment.ec2_environment"

# A fixed clock, so the records of two processes can be compared byte for byte.
EMIT = r"""
import json, sys, time
time.time = lambda: 1_796_000_000.123
if sys.argv[1] == "library-first":
    import aws_embedded_metrics.logger.metrics_logger_factory  # the library's own way: no stand-in
from chalicelib import lazy_ec2, metrics
metrics.emit_pageload(["intel", "jetbrains"])
print("REPORT " + json.dumps({
    "aiohttp": "aiohttp" in sys.modules,
    "stand_in": type(sys.modules[lazy_ec2.MODULE]).__name__ == "_StandIn",
    "ec2_loaded": lazy_ec2.loaded(),
}))
"""


def run(code: str, *args: str, env: dict[str, str | None] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Run ``code`` in a fresh interpreter; (the lines it printed before its report, the report)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_EMF_", "AWS_LAMBDA_"))}
    environment.update({k: v for k, v in (env or {}).items() if v is not None})
    printed, report = process.run_python("-c", code, *args, env=environment).rsplit("REPORT ", 1)
    return printed.splitlines(), json.loads(report)


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_EMF_ENVIRONMENT": "Lambda", "AWS_LAMBDA_FUNCTION_NAME": "stats"},  # as .chalice/config.json deploys it
        {"AWS_LAMBDA_FUNCTION_NAME": "stats"},  # detected: Lambda is probed before EC2
        {"AWS_EMF_ENVIRONMENT": "Local"},  # chalice local, the local stack
    ],
    ids=["lambda-named", "lambda-detected", "local"],
)
def test_a_page_load_s_record_never_loads_aiohttp(env: dict[str, str]) -> None:
    printed, report = run(EMIT, "stand-in", env=env)

    assert report == {"aiohttp": False, "stand_in": True, "ec2_loaded": False}
    (record,) = [json.loads(line) for line in printed if line.startswith("{")]
    assert record["PageLoad"] == 1 and record["sponsors"] == ["intel", "jetbrains"]


@pytest.mark.parametrize("environment", ["Lambda", "Local"])
def test_the_record_is_byte_identical_to_the_library_s_own(environment: str) -> None:
    env = {"AWS_EMF_ENVIRONMENT": environment, "AWS_LAMBDA_FUNCTION_NAME": "stats"}
    ours, with_stand_in = run(EMIT, "stand-in", env=env)
    theirs, without = run(EMIT, "library-first", env=env)

    assert with_stand_in["stand_in"] and not without["stand_in"]
    assert without["aiohttp"]  # the library's own way still pays for it: the stand-in is what saves it
    assert ours == theirs
    assert ours[0].startswith('{"LogGroup": "stats", "ServiceName": "stats", "ServiceType": "AWS::Lambda::Function"')


def test_the_stand_in_passes_on_every_method_of_the_library_s_ec2_environment() -> None:
    code = r"""
import importlib, inspect, json
module = importlib.import_module("aws_embedded_metrics.environment.ec2_environment")
detector = inspect.getsource(importlib.import_module("aws_embedded_metrics.environment.environment_detector"))
print("REPORT " + json.dumps({
    "methods": sorted(n for n in dir(module.EC2Environment) if not n.startswith("_")),
    "imported_from_there": "from aws_embedded_metrics.environment.ec2_environment import EC2Environment" in detector,
}))
"""
    _, report = run(code)

    assert report["imported_from_there"], "the detector no longer imports EC2Environment from the stood-in module"
    assert report["methods"] == sorted(lazy_ec2.METHODS)
    for name in lazy_ec2.METHODS:
        assert name in vars(lazy_ec2.EC2Environment), name


@pytest.fixture
def metadata_service() -> Iterator[str]:
    """EC2's instance metadata service (IMDSv2: a token by PUT, then the identity document by GET)."""
    document = {
        "imageId": "ami-0abc",
        "instanceId": "i-0123",
        "instanceType": "t3.small",
        "privateIp": "10.0.0.7",
        "availabilityZone": "us-east-1a",
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            self._answer(b"a-token")

        def do_GET(self) -> None:
            ok = self.headers.get("X-aws-ec2-metadata-token") == "a-token"
            self._answer(json.dumps(document).encode() if ok else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_on_ec2_the_library_s_own_environment_is_probed_and_used(metadata_service: str) -> None:
    code = r"""
import json, sys
from chalicelib import lazy_ec2, metrics
metrics.load_library()
from aws_embedded_metrics.environment import environment_detector
from aws_embedded_metrics.logger.metrics_context import MetricsContext
before = "aiohttp" in sys.modules
lazy_ec2.real_module().TOKEN_ENDPOINT = sys.argv[1] + "/latest/api/token"  # the only address not configurable
environment = environment_detector.resolve_environment_sync()
context = MetricsContext.empty()
environment.configure_context(context)
print("REPORT " + json.dumps({
    "aiohttp_before": before,
    "aiohttp": "aiohttp" in sys.modules,
    "type": environment.get_type(),
    "sink": type(environment.get_sink()).__name__,
    "properties": context.properties,
}))
"""
    _, report = run(code, metadata_service, env={"AWS_EMF_EC2_METADATA_ENDPOINT": f"{metadata_service}/document"})

    assert report["aiohttp_before"] is False
    assert report["aiohttp"] is True
    assert report["type"] == "AWS::EC2::Instance"
    assert report["sink"] == "AgentSink"
    assert report["properties"]["instanceId"] == "i-0123"

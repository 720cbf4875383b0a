"""HTTP responses with the headers production's callers rely on."""

import json
from typing import Any

from chalice.app import Response

ALLOW_ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
# Browsers and shields.io badges may reuse a build answer for three minutes.
BUILD_CACHE_CONTROL = "max-age=180, must-revalidate"


def text(status: int, body: str, cache_control: str = "no-cache") -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": TEXT, "Cache-Control": cache_control, **ALLOW_ANY_ORIGIN},
    )


def json_body(status: int, body: Any, cache_control: str = "no-cache") -> Response:
    # Serialised here, with json's default separators, so the bytes match the old function's.
    return Response(
        body=json.dumps(body),
        status_code=status,
        headers={"Content-Type": JSON, "Cache-Control": cache_control, **ALLOW_ANY_ORIGIN},
    )

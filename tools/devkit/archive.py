"""Reading the stats archive: every object under ``stats/``, however many pages the listing takes."""

import json
from typing import Any

from tools.devkit.names import ARCHIVE_BUCKET

PREFIX = "stats/"


def objects(s3: Any, bucket: str = ARCHIVE_BUCKET, skip: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """Key to bytes of every archive object, in key order. Keys already in ``skip`` are not read again."""
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            if skip is not None and key in skip:
                found[key] = skip[key]
            else:
                found[key] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return dict(sorted(found.items()))


def lines(archived: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every archived line, parsed, in key order (objects are newline-delimited JSON)."""
    return [json.loads(line) for data in archived.values() for line in data.decode().split("\n") if line]


def all_lines(s3: Any, bucket: str = ARCHIVE_BUCKET) -> list[dict[str, Any]]:
    """Every line of every archive object, parsed, in key order."""
    return lines(objects(s3, bucket))

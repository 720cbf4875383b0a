"""The stats archive: each SQS batch becomes one newline-delimited object under ``stats/``."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

logger = logging.getLogger(__name__)

# Two invocations of the archiver can start in the same microsecond; the write is conditional
# on the key being new (chalicelib.aws builds the S3 client that way), and a taken key moves the
# stamp on by a microsecond.
KEY_ATTEMPTS = 20
_KEY_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict"}


def object_key(function_name: str, stamp: datetime) -> str:
    return f"stats/{function_name}-{stamp.strftime('%Y-%m-%d-%H:%M:%S.%f')}.log"


def archive_batch(
    s3: Any,
    bucket: str,
    function_name: str,
    bodies: list[str],
    now: Callable[[], datetime],
) -> str | None:
    """Write the bodies, in batch order, as one object; return its key (None for an empty batch).

    Any failure propagates, so that Lambda reports the batch as failed and SQS delivers it again.
    """
    if not bodies:
        return None
    from botocore.exceptions import ClientError

    payload = "\n".join(bodies).encode("utf-8")
    first_stamp = stamp = now()
    for _ in range(KEY_ATTEMPTS):
        key = object_key(function_name, stamp)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=payload)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _KEY_TAKEN:
                logger.error("archiving %d messages to s3://%s/%s failed: %s", len(bodies), bucket, key, error)
                raise
            stamp += timedelta(microseconds=1)
            continue
        logger.info("archived %d messages to s3://%s/%s", len(bodies), bucket, key)
        return key
    raise RuntimeError(f"no free archive key in {KEY_ATTEMPTS} attempts from {object_key(function_name, first_stamp)}")

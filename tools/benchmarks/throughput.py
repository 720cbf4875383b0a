"""Row 5: page loads per second through the local stack (`make local`), counted once archived.

Several clients POST page loads over HTTP to the stack's API (Chalice's local server) at once,
with the reliability suite's load generator (``tools.reliability.load``); a page load counts only when
its line is in an archive object in S3, so the figure covers the API, the queue, the event runtime
and the archiver together.
"""

import time
from typing import Any

from tools.benchmarks.timing import median_ms, p95_ms
from tools.devkit import archive
from tools.local_stack import launcher
from tools.reliability import load

SPONSORS = 3
# A short batching window, so the last page loads are archived soon after they are sent.
BATCH_WINDOW = 1.0


def _archived(s3: Any, seen: dict[str, bytes]) -> tuple[int, int]:
    """(PageLoad lines, SponsorView lines) in every archive object, reading each object once."""
    seen.update(archive.objects(s3, skip=seen))
    kinds = [line["type"] for line in archive.lines(seen)]
    return kinds.count("PageLoad"), kinds.count("SponsorView")


def throughput_row(clients: int, per_client: int, deadline_seconds: float = 180) -> dict[str, Any]:
    with launcher.running(batch_window=BATCH_WINDOW) as stack:
        s3 = stack.client("s3")
        seen: dict[str, bytes] = {}
        before = _archived(s3, seen)
        deadline = time.monotonic() + deadline_seconds
        started = time.perf_counter()
        sponsors = [f"client-sponsor{n}" for n in range(SPONSORS)]
        sent = load.run(
            stack.api_url,
            clients * per_client,
            clients,
            time_limit=deadline_seconds,
            sponsors=sponsors,
            per_load=SPONSORS,
        )
        accepted = sent.accepted
        archived = (0, 0)
        while time.monotonic() < deadline:
            total = _archived(s3, seen)
            archived = (total[0] - before[0], total[1] - before[1])
            if archived[0] >= accepted:
                break
            time.sleep(0.2)
        archived_seconds = time.perf_counter() - started
        stopped = stack.stop()
    return {
        "clients": clients,
        "sponsors_per_page_load": SPONSORS,
        "sent": sum(sent.statuses.values()),
        "accepted": accepted,
        "archived_page_loads": archived[0],
        "archived_sponsor_views": archived[1],
        "all_archived": archived[0] == accepted == clients * per_client and archived[1] == accepted * SPONSORS,
        "http_seconds": round(sent.seconds, 2),
        "archived_seconds": round(archived_seconds, 2),
        "accepted_per_second": round(accepted / sent.seconds, 1) if sent.seconds else None,
        "archived_per_second": round(archived[0] / archived_seconds, 1) if archived_seconds else None,
        "median_ms": median_ms(sent.latencies),
        "p95_ms": p95_ms(sent.latencies),
        "stack_exit_code": stopped,
        "batch_window_seconds": BATCH_WINDOW,
    }

"""Row 5: page loads per second through the local stack (`make local`), counted once archived.

Several clients POST page loads over HTTP to the stack's API (Chalice's local server) at
once; a page load counts only when its line is in an archive object in S3, so the figure
covers the API, the queue, the event runtime and the archiver together.
"""

import threading
import time
import urllib.request
from typing import Any

from benchmarks.timing import median_ms, p95_ms
from devkit import archive
from local_stack import launcher

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
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()
        deadline = time.monotonic() + deadline_seconds

        def client(number: int) -> None:
            icons = ",".join(f"client{number}-sponsor{n}" for n in range(SPONSORS))
            url = f"{stack.api_url}/pageload?icons={icons}"
            for _ in range(per_client):
                if time.monotonic() > deadline:
                    return
                request = urllib.request.Request(url, method="POST")  # noqa: S310 (loopback)
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                        status = response.status
                except urllib.error.HTTPError as error:
                    status = error.code
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statuses.append(status)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        sent_seconds = time.perf_counter() - started
        accepted = statuses.count(200)
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
        "sent": len(statuses),
        "accepted": accepted,
        "archived_page_loads": archived[0],
        "archived_sponsor_views": archived[1],
        "all_archived": archived[0] == accepted == clients * per_client and archived[1] == accepted * SPONSORS,
        "http_seconds": round(sent_seconds, 2),
        "archived_seconds": round(archived_seconds, 2),
        "accepted_per_second": round(accepted / sent_seconds, 1) if sent_seconds else None,
        "archived_per_second": round(archived[0] / archived_seconds, 1) if archived_seconds else None,
        "median_ms": median_ms(latencies),
        "p95_ms": p95_ms(latencies),
        "stack_exit_code": stopped,
        "batch_window_seconds": BATCH_WINDOW,
    }

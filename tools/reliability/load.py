"""Load: paced page loads over HTTP from several concurrent clients, then a count of what was archived.

``run`` sends the page loads (0 to 6 random sponsors each, loopback only, bounded in count and
time) to a running stack; ``wait_for_archive`` waits for the queue to drain into the archive, and
``archive_counts`` counts the lines, so a test can check that the archive holds exactly one
``PageLoad`` line per accepted request and exactly the expected ``SponsorView`` lines per sponsor.
`make reliability` runs it at full size (tests/test_reliability_stack.py) and writes the figures to
``tools/reliability/load.json``, which is committed and quoted in the README; the benchmark's row 5
(``tools/benchmarks/throughput.py``) sends its page loads with ``run`` too.
"""

import http.client
import random
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.benchmarks.timing import percentile_ms
from tools.devkit import archive

SPONSORS = ["intel", "google", "jetbrains", "solid_sands", "pvs-studio", "tenstorrent", "hudson_river", "backtrace"]
MAX_SPONSORS_PER_LOAD = 6
RESULTS = Path(__file__).resolve().parent / "load.json"


@dataclass
class LoadResult:
    requests: int
    clients: int
    accepted: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    sponsor_views: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "clients": self.clients,
            "accepted": self.accepted,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.per_second, 1),
            "latency_ms": {
                **{f"p{round(f * 100)}": round(percentile_ms(self.latencies, f) or 0.0, 1) for f in (0.5, 0.9, 0.99)},
                "max": round(max(self.latencies, default=0.0) * 1000, 1),
            },
        }


def run(
    api_url: str,
    requests: int,
    clients: int,
    *,
    rate: float = 0.0,
    seed: int = 0,
    time_limit: float = 300.0,
    sponsors: Sequence[str] = SPONSORS,
    per_load: int | None = None,
) -> LoadResult:
    """Send ``requests`` page loads from ``clients`` threads (one kept-alive connection each).

    Each names ``per_load`` of ``sponsors`` (by default 0 to 6 of them, at random). With ``rate``
    (requests/s over all clients), request *i* starts no earlier than *i / rate* seconds in: an
    open-loop arrival rate, as page loads arrive in production.
    """
    parts = urllib.parse.urlsplit(api_url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"load goes to loopback only, not {parts.hostname}")
    result = LoadResult(requests=requests, clients=clients)
    lock = threading.Lock()
    rng = random.Random(seed)  # noqa: S311 (a reproducible load, not a secret)
    sizes = [per_load if per_load is not None else rng.randint(0, MAX_SPONSORS_PER_LOAD) for _ in range(requests)]
    plan = [rng.sample(list(sponsors), size) for size in sizes]
    next_index = iter(range(requests))
    deadline = time.monotonic() + time_limit

    def client() -> None:
        connection = _connect(parts.hostname or "127.0.0.1", parts.port or 80)
        try:
            while time.monotonic() < deadline:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                sponsors = plan[index]
                if rate:
                    slot = begin + index / rate
                    if slot > time.perf_counter():
                        time.sleep(slot - time.perf_counter())
                # As the front end sends it: comma-joined, percent-encoded, no body, no Content-Type.
                path = "/pageload?icons=" + urllib.parse.quote(",".join(sponsors), safe="")
                started = time.perf_counter()
                try:
                    connection.request("POST", path, headers={"Content-Length": "0"})
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (http.client.HTTPException, OSError):
                    connection.close()
                    connection = _connect(parts.hostname or "127.0.0.1", parts.port or 80)
                    status = 0
                elapsed = time.perf_counter() - started
                with lock:
                    result.statuses[status] += 1
                    result.latencies.append(elapsed)
                    if status == 200:
                        result.accepted += 1
                        result.sponsor_views.update(sponsors)
        finally:
            connection.close()

    started = begin = time.perf_counter()
    threads = [threading.Thread(target=client, name=f"load-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 10)
    result.seconds = time.perf_counter() - started
    return result


def _connect(host: str, port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.connect()
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def archive_counts(lines: list[dict[str, Any]]) -> tuple[int, Counter[str], Counter[str]]:
    """(PageLoad lines, SponsorView lines per sponsor, lines of any other type)."""
    page_loads = sum(1 for line in lines if line.get("type") == "PageLoad" and line.get("value") == "")
    views = Counter(line["value"] for line in lines if line.get("type") == "SponsorView")
    other = Counter(str(line.get("type")) for line in lines if line.get("type") not in ("PageLoad", "SponsorView"))
    return page_loads, views, other


def wait_for_archive(sqs: Any, queue_url: str, s3: Any, expected_lines: int, timeout: float) -> list[dict[str, Any]]:
    """Poll until the queue is empty and the archive holds at least ``expected_lines`` (or time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        queued = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        lines = archive.all_lines(s3)
        if (queued == 0 and len(lines) >= expected_lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.25)

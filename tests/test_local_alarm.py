"""`python -m tools.local_stack.alarm`: what a developer runs beside `make local`, and what it says when it cannot."""

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import graphs
from tools.devkit import net, widget_image
from tools.devkit.names import ALERT_TOPIC, REGION
from tools.local_stack import alarm, seed

THRESHOLD = 2.0


def graph(state: str, when: datetime, old: str) -> list[float]:
    """The p90 line of the graph the forwarder asks for on this transition, oldest first, as the emulator draws it."""
    now = datetime.now(UTC)
    widget = graphs.widget(alarm.site_too_slow(state, when, old), now=now)
    assert widget is not None
    (line,) = [s for s in widget_image.series(widget, widget_image.moto_datapoints(REGION), now) if s.visible]
    return [value for _, value in sorted(line.points.items())]


def changes(cloudwatch: Any) -> datetime:
    (found,) = cloudwatch.describe_alarms(AlarmNames=[alarm.NAME])["MetricAlarms"]
    return datetime.fromisoformat(json.loads(found["StateReasonData"])["StateChangeTime"])


def test_alarm_recovery_and_flap_seconds_apart_draw_apart_and_the_graph_matches_each(
    boto: Any, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    boto("sns").create_topic(Name=ALERT_TOPIC)
    cloudwatch = boto("cloudwatch")
    seed.write_metrics(cloudwatch, seed.response_times(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)))

    times = []
    for state in ("ALARM", "OK", "ALARM"):  # as fast as a developer types them
        assert alarm.main(["--endpoint-url", moto_endpoint, "--state", state]) == 0
        times.append(changes(cloudwatch))

    assert [b - a for a, b in itertools.pairwise(times)] == [alarm.MIN_GAP, alarm.MIN_GAP]
    assert "5 minutes after the last change" in capsys.readouterr().out
    # Each graph ends where its transition says: over the threshold, back under it, over it again.
    alarm_graph, recovery_graph, flap_graph = (
        graph(state, when, old)
        for state, when, old in zip(("ALARM", "OK", "ALARM"), times, ("OK", "ALARM", "OK"), strict=True)
    )
    assert alarm_graph[-1] > THRESHOLD and min(alarm_graph) < THRESHOLD
    assert recovery_graph[-1] < THRESHOLD and max(recovery_graph) > THRESHOLD
    assert flap_graph[-1] > THRESHOLD


@pytest.mark.parametrize("how", [["--endpoint-url", "http://127.0.0.1:{port}"], []])
def test_with_no_emulator_it_says_so_in_one_line(how: list[str]) -> None:
    port = net.free_port()
    result = subprocess.run(
        [sys.executable, "-m", "tools.local_stack.alarm", *[arg.format(port=port) for arg in how]],
        env={"PATH": "/usr/bin:/bin", "AWS_PORT": str(port)},  # `AWS_PORT=N python -m tools.local_stack.alarm`
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"python -m tools.local_stack.alarm: no AWS emulator at http://127.0.0.1:{port}: start the")
    assert "Traceback" not in result.stderr

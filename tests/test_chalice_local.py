"""`chalice local --stage local`, Chalice's own command, against the emulator started alone (`make emulator`).

The local stage of .chalice/config.json names the emulator's port (5000), which another stack on this
machine may hold, so each test runs Chalice on a copy of the project whose local stage names a free
port instead; the code and the rest of the configuration are the project's own.
"""

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.local_stack_helpers import ARCHIVE_TIMEOUT, BATCH_WINDOW, check_page_load, unique_sponsors
from tools.devkit import archive, net
from tools.devkit.net import eventually
from tools.devkit.process import PROJECT_DIR, OutputProcess
from tools.local_stack import launcher
from tools.local_stack.stack import CHALICE_LOCAL_AWS_PORT

CHALICE = str(Path(sys.executable).parent / "chalice")
SERVING = r"Serving on http://127\.0\.0\.1:\d+"


def project_for(tmp_path: Path, aws_port: int) -> Path:
    """The project's app and configuration, its local stage pointed at the emulator on ``aws_port``."""
    shutil.copy(PROJECT_DIR / "app.py", tmp_path / "app.py")
    shutil.copytree(PROJECT_DIR / "chalicelib", tmp_path / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / ".chalice").mkdir()
    config = (PROJECT_DIR / ".chalice" / "config.json").read_text()
    address = f"127.0.0.1:{CHALICE_LOCAL_AWS_PORT}"
    assert address in json.dumps(json.loads(config)["stages"]["local"])
    (tmp_path / ".chalice" / "config.json").write_text(config.replace(address, f"127.0.0.1:{aws_port}"))
    return tmp_path


def chalice_local(project: Path) -> tuple[OutputProcess, str]:
    """`chalice local --stage local` in a shell with no AWS settings at all; the process and its URL."""
    port = net.free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = OutputProcess(
        [CHALICE, "--project-dir", str(project), "local", "--stage", "local", "--port", str(port), "--no-autoreload"],
        env=environment,
    )
    try:
        server.wait_for_line(SERVING, timeout=60)
    except BaseException:
        server.kill()
        raise
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def emulator() -> Iterator[launcher.StackProcess]:
    """`python -m tools.local_stack --no-api` (what `make emulator` runs) on free ports."""
    with launcher.running(args=("--no-api",), batch_window=BATCH_WINDOW) as stack:
        yield stack


def test_the_emulator_alone_serves_no_api_and_says_how_to_run_chalice_local(emulator: launcher.StackProcess) -> None:
    assert emulator.api_url == ""
    assert "API           not served here; .venv/bin/chalice local --stage local expects" in emulator.output


def test_a_page_load_through_chalice_local_reaches_the_archive(emulator: launcher.StackProcess, tmp_path: Path) -> None:
    aws_port = int(emulator.aws_endpoint.rsplit(":", 1)[1])
    server, api = chalice_local(project_for(tmp_path, aws_port))
    with server:
        sponsors = unique_sponsors(2)
        before = datetime.now(UTC)
        response = requests.post(f"{api}/pageload", params={"icons": ",".join(sponsors)}, timeout=10)
        after = datetime.now(UTC)
        assert (response.status_code, response.text) == (200, "Ok"), server.output[-2000:]

        s3 = emulator.client("s3")
        objects = eventually(
            lambda: (
                (found := archive.objects(s3)) and any(sponsors[-1].encode() in d for d in found.values()) and found
            ),
            ARCHIVE_TIMEOUT,
            "the page load archived by the emulator's event runtime",
        )
        check_page_load(objects, sponsors, before, after)

        # The seeded history answers too, and HEAD as GET does without the body.
        build = requests.get(f"{api}/compiler-build/gcc", timeout=10)
        assert build.status_code == 200 and build.json()["last_build"] is not None
        head = requests.head(f"{api}/compiler-build/gcc", timeout=10)
        assert head.status_code == 200 and head.content == b""
    assert "Traceback" not in server.output


def test_with_no_emulator_the_log_says_what_to_start_and_the_api_answers_503(tmp_path: Path) -> None:
    nobody = net.free_port()
    server, api = chalice_local(project_for(tmp_path, nobody))
    with server:
        response = requests.post(f"{api}/pageload", params={"icons": "intel"}, timeout=10)
        build = requests.get(f"{api}/compiler-build/gcc", timeout=10)
    assert response.status_code == 503
    assert build.status_code == 503
    said = (
        f"nothing answers at AWS_ENDPOINT_URL http://127.0.0.1:{nobody}: start the local emulator first (make emulator)"
    )
    lines = [line for line in server.lines if said in line]
    assert len(lines) == 2, server.output  # one line for each request, and nothing more
    assert lines[0].startswith("SendMessageBatch failed for 2 messages: ")
    assert lines[1].startswith("build status query for gcc failed: ")
    assert "Traceback" not in server.output

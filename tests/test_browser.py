"""A real browser against `make local`: headless Chromium from Debian, driven by Playwright.

A page served from another local origin does what the Compiler Explorer front end does after
a page load: jQuery's ``$.post(pageloadUrl + '?icons=' + encodeURIComponent(visibleIcons))``
(real jQuery 4.0.0, the major version the front end ships, from the npm registry, vendored in
``browser_assets/``), then fetches a build status as the status page does. Both must work
cross-origin with no CORS error in the console, and the page load must reach the archive. A
third origin that sends no CORS header is asked too, to prove that a CORS error would show up
in the console we check.
"""

import shutil
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.local_stack_helpers import ARCHIVE_TIMEOUT, check_page_load, unique_sponsors
from tools.devkit import archive, net
from tools.devkit.names import HOST
from tools.devkit.net import eventually
from tools.local_stack import launcher

CHROMIUM = shutil.which("chromium")
# The Makefile's `browser` target says the same where it cannot install Chromium (CHROMIUM_MISSING).
MISSING = "Chromium is missing: install Debian's chromium (sudo apt-get install chromium), or run make browser as root"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
JQUERY = Path(__file__).parent / "browser_assets" / "jquery-4.0.0.min.js"
# The house flags for a quiet, offline headless Chromium (Playwright adds --headless itself).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Compiler Explorer (local)</title>
<script src="/jquery.min.js"></script></head>
<body>
<div id="sponsors">{icons}</div>
<script>
const options = {{pageloadUrl: "{api}/pageload"}};
window.results = {{jquery: $.fn.jquery}};
// As the front end does once the page is up (it waits 5 s; here a moment is enough).
setTimeout(function () {{
  const visibleIcons = $(".sponsor-icon:visible").map((i, el) => $(el).data("statsid")).get().join(",");
  $.post(options.pageloadUrl + "?icons=" + encodeURIComponent(visibleIcons))
    .done((text, status, xhr) => {{ window.results.pageload = {{status: xhr.status, text: text}}; }})
    .fail((xhr) => {{ window.results.pageload = {{status: xhr.status, text: "failed"}}; }});
  fetch("{api}/compiler-build/gcc")
    .then((r) => r.json().then((body) => {{ window.results.build = {{status: r.status, body: body}}; }}))
    .catch((e) => {{ window.results.build = {{status: 0, error: String(e)}}; }});
  fetch("{control}/no-cors")
    .then(() => {{ window.results.control = "allowed"; }})
    .catch(() => {{ window.results.control = "blocked"; }});
}}, 100);
</script></body></html>
"""


class _Site(net.LocalServer):
    """A loopback HTTP server answering from a dict of path to (content type, bytes); no CORS headers."""

    def __init__(self, pages: dict[str, tuple[str, bytes]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content_type, payload = pages.get(self.path, ("text/plain", b"not found"))
                net.reply(self, 200 if self.path in pages else 404, payload, content_type)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, name="test-site")
        self.origin = f"http://{HOST}:{self.port}"


def test_front_end_page_load_and_build_status_work_cross_origin(stack: launcher.StackProcess, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    sponsors = unique_sponsors(3)
    icons = "".join(f'<img class="sponsor-icon" data-statsid="{s}" alt="{s}" width="8" height="8">' for s in sponsors)
    # A sponsor that is not on screen is not counted, as in the front end.
    icons += '<img class="sponsor-icon" data-statsid="hidden_sponsor" style="display:none">'

    with _Site({"/no-cors": ("text/plain", b"no CORS header here")}) as control:
        page_html = PAGE.format(icons=icons, api=stack.api_url, control=control.origin)
        site = {
            "/": ("text/html", page_html.encode()),
            "/jquery.min.js": ("text/javascript", JQUERY.read_bytes()),
            "/favicon.ico": ("image/x-icon", b""),  # else its 404 would be the console's only other error
        }
        with _Site(site) as front_end, sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                user_data_dir=str(tmp_path / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
            )
            try:
                page = browser.new_page()
                console: list[str] = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text} (at {m.location.get('url')})"))
                page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
                sent: list[Any] = []
                page.on("request", lambda request: sent.append(request) if "/pageload" in request.url else None)

                before = datetime.now(UTC)
                page.goto(f"{front_end.origin}/")
                page.wait_for_function(
                    "window.results.pageload && window.results.build && window.results.control", timeout=30_000
                )
                after = datetime.now(UTC)
                results = page.evaluate("window.results")
                pageload_headers = sent[0].all_headers() if sent else {}
                pageload_body = sent[0].post_data if sent else None
            finally:
                browser.close()

    # The console shows CORS errors (the control was blocked and said so), and none about the API.
    assert results["control"] == "blocked"
    cors_errors = [line for line in console if "CORS" in line]
    assert any(control.origin in line for line in cors_errors), console
    assert not [line for line in cors_errors if stack.api_url in line], console
    assert not [line for line in console if line.startswith("pageerror")], console
    assert all(control.origin in line for line in console if line.startswith("error")), console

    # The request was what jQuery's $.post sends: POST, no body, no Content-Type, cross-origin.
    assert len(sent) == 1
    assert sent[0].method == "POST"
    assert pageload_body is None
    assert "content-type" not in {name.lower() for name in pageload_headers}
    assert pageload_headers.get("origin") == front_end.origin

    assert results["jquery"].startswith("4."), "the front end ships jQuery 4"
    assert results["pageload"] == {"status": 200, "text": "Ok"}
    assert results["build"]["status"] == 200
    assert results["build"]["body"] == requests.get(f"{stack.api_url}/compiler-build/gcc", timeout=10).json()
    assert results["build"]["body"]["last_build"]["status"] == "FAILED"

    s3 = stack.client("s3")
    objects = eventually(
        lambda: (found := archive.objects(s3)) and any(sponsors[-1].encode() in d for d in found.values()) and found,
        ARCHIVE_TIMEOUT,
        "the browser's page load archived under stats/",
    )
    key = check_page_load(objects, sponsors, before, after)
    assert b"hidden_sponsor" not in objects[key]

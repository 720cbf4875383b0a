"""Compiler Explorer stats and alerts: the routes and event handlers, each a call into chalicelib."""

import logging
from datetime import UTC, datetime

from chalice.app import Chalice, CloudWatchEvent, CORSConfig, Cron, Response, SNSEvent, SQSEvent

from chalicelib import archive, aws, builds, factory, metrics, pageload, responses, settings, warmup

app = Chalice(app_name="compiler-explorer-stats")
logging.getLogger("chalicelib").setLevel(logging.INFO)

# The front end posts cross-origin with no custom headers; badges and the status page GET.
CORS = CORSConfig(allow_origin="*", max_age=86400)
# The body is ignored, so every type is accepted: jQuery's $.post(url) sends none, navigator.sendBeacon
# text/plain (a string), multipart/form-data (FormData) or a Blob's own type, if any. A 415 loses a page load.
PAGELOAD_CONTENT_TYPES = ["*/*"]


# What the alert forwarder runs on (webhook, state store, graph budget, clocks), one a process;
# building it builds nothing until the forwarder asks. Tests give the app their own.
alert_engine = factory.Factory()


def utc_now() -> datetime:
    return datetime.now(UTC)


@app.route("/pageload", methods=["POST"], cors=CORS, content_types=PAGELOAD_CONTENT_TYPES)
def record_pageload() -> Response:
    params = app.current_request.query_params if app.current_request else None
    try:
        # getlist raises KeyError for a missing name: `?utm=x` without icons is a page load with no sponsors.
        sponsors = pageload.parse_icons(params.getlist("icons") if params and "icons" in params else [])
        bodies = pageload.message_bodies(sponsors, utc_now())
        pageload.enqueue(aws.client("sqs"), settings.stats_queue_url(), bodies)
    except pageload.InvalidIcons as error:
        return responses.text(400, f"Bad request: {error}")
    except (pageload.QueueUnavailable, settings.ConfigurationError):
        return responses.text(503, "Page load not recorded: the stats queue is unavailable, try again later")
    metrics.emit_pageload(sponsors)
    return responses.text(200, "Ok")


@app.route("/compiler-build/{compiler}", methods=["GET", "HEAD"], cors=CORS)
def compiler_build_status(compiler: str) -> Response:
    response = build_status_response(compiler)
    # HEAD (curl -sI, caches, monitors) gets what GET gets, without the body.
    head = app.current_request is not None and app.current_request.method == "HEAD"
    return responses.headers_only(response) if head else response


def build_status_response(compiler: str) -> Response:
    try:
        name = builds.parse_compiler(compiler)
        status = builds.build_status(aws.client("dynamodb"), settings.build_table(), name)
    except builds.InvalidCompiler as error:
        return responses.json_body(400, {"error": str(error)})
    except (builds.BuildStoreUnavailable, settings.ConfigurationError):
        return responses.json_body(503, {"error": "build status is temporarily unavailable"})
    return responses.json_body(200, status, cache_control=responses.BUILD_CACHE_CONTROL)


@app.on_sqs_message(queue=settings.stats_queue_name(), batch_size=100, maximum_batching_window_in_seconds=300)
def archive_stats(event: SQSEvent) -> None:
    bodies = [record.body for record in event]
    archive.archive_batch(
        aws.client("s3"), settings.archive_bucket(), getattr(event.context, "function_name", ""), bodies, utc_now
    )


@app.on_sns_message(topic=settings.alert_topic_name())
def forward_alert(event: SNSEvent) -> None:
    # Only this function needs the forwarder (and requests, which it loads): the API's cold start
    # skips it. On Lambda the warm-up below has already imported it.
    from chalicelib import forwarder

    engine = alert_engine
    forwarder.forward(
        event.to_dict().get("Records", []),
        engine.webhook(),
        engine.store(),
        forwarder.lock_seconds(event.context),
        cloudwatch=engine.cloudwatch,
        budget=engine.graph_budget,
        mention_role=engine.mention_role(),
    )


# Daily at 06:00 UTC: the nightly builds start at 00:00 (README, "Build watch").
@app.schedule(Cron(0, 6, "*", "*", "?", "*"))
def watch_builds(event: CloudWatchEvent) -> None:
    # Only this function needs these (PyYAML, requests): the others' cold starts skip them.
    from chalicelib import build_watch

    build_watch.watch(event.to_dict(), build_watch.of(alert_engine, event.context))


# On Lambda, this function's clients and libraries now, at init's full CPU (see chalicelib.warmup);
# elsewhere nothing.
warmup.warm_up()

"""`make local`: the whole service on this machine, on moto's AWS emulator. Development only.

Not part of the Lambda package (it lives outside ``chalicelib/``). Run it with ``make local``
or ``.venv/bin/python -m tools.local_stack``; it runs in the foreground until Ctrl-C or SIGTERM.

Environment (all optional):

    PORT=8000                    the API (Chalice's local server, stage "local")
    AWS_PORT=5000                the emulator (moto's server); AWS_ENDPOINT_URL for boto3 and the AWS CLI
    LOCAL_BATCH_WINDOW=5         seconds a stats batch may gather before archive_stats runs (production: 300)
    LOCAL_VISIBILITY_TIMEOUT=30  seconds before a message a failed (or killed) handler held comes back
    LOCAL_DRAIN_SECONDS=10       at most this long for the final flush when stopping
    DISCORD_PORT=8001            the Discord fake the forwarder posts to, and its page at http://127.0.0.1:8001/
                                 showing the channel as Discord's client would (``tools.devkit.discord.page``)
    GITHUB_PORT=8002             the GitHub fake (``tools.devkit.github_fake``) the build watch reads:
                                 compilers.yaml and the repositories ``tools.local_stack.seed`` describes;
                                 its token is in the emulator's SSM (/admin/github_build_watch_token), as
                                 production keeps it. Run the watch now with
                                 ``python -m tools.local_stack.watch`` (``tools/local_stack/watch.py``).
    WEBHOOK_URL                  a real Discord webhook: the fake relays every post and edit to it and
                                 answers as it does (``tools.devkit.discord.relay``); unset, messages stay local
    LOCAL_DISCORD_JSON=0         1: print each Discord message's JSON under its one line
    LOCAL_ARCHIVE_COPY=build/local-archive
                                 where the archive (in the emulator's memory) is copied on shutdown; empty: nowhere

``python -m tools.local_stack --no-api`` (``make emulator``) starts everything but the API, for
``.venv/bin/chalice local --stage local``, whose stage names the emulator on port 5000.
A stack that is ready registers itself (``tools.local_stack.registry``), so a second one on the same
ports says where the first runs instead of failing on a busy port.

Processes: ``python -m tools.local_stack`` (API, the Discord fake, supervision) starts
``python -m tools.devkit.moto --port PORT`` and ``python -m tools.local_stack.events`` (the event
runtime: SQS batches to ``archive_stats``, SNS notifications to ``forward_alert``, as Lambda
would deliver them). Each child is in its own session and exits when the stack does.

Printed lines other programs can rely on:

    [stack] ready: API http://127.0.0.1:PORT, AWS emulator http://127.0.0.1:AWS_PORT, alerts page http://127.0.0.1:DISCORD_PORT/
    (with --no-api: "ready: API none, ...")
    [events] runtime ready (pid N): ...

Signals to the stack's process: SIGINT/SIGTERM stop it (API first, then the runtime archives
what is still queued, then the emulator; within 20 s, exit code 0). If the runtime dies (say, ``kill -9`` mid-batch),
the stack starts a new one and the messages it held come back after the visibility timeout.

From Python (tests, load and failure tests), ``tools.local_stack.launcher`` does all of that:

    from tools.local_stack import launcher

    with launcher.running(batch_window=1, visibility_timeout=5) as stack:  # free ports
        stack.api_url, stack.aws_endpoint, stack.discord_url, stack.client("s3"), stack.output
        old = stack.kill_runtime()                 # SIGKILL the event runtime
        stack.wait_for_runtime(other_than=old)     # the replacement is polling
        assert stack.stop() == 0                   # SIGTERM to the group; flushes first
"""

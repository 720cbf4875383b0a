"""What the stack's child processes share: stop on a signal, and never outlive the stack.

Each child runs in a session of its own, so that Ctrl-C in the terminal (which signals the
whole foreground process group) reaches only the stack, which then stops the children in
order: the emulator must outlive the final flush of the queue. A child learns that the stack
died without stopping it when its standard input, a pipe from the stack, reaches end of file.
"""

import logging
import os
import signal
import sys
import threading

# Set by the stack for its children: their stdin is a pipe from the stack, open while it lives.
LIFELINE = "LOCAL_STACK_LIFELINE"


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT (instead of KeyboardInterrupt and a traceback)."""
    event = threading.Event()

    def handle(signum: int, frame: object) -> None:
        event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return event


def exit_with_parent() -> None:
    """End this process at once when the stack's end of our stdin pipe closes."""

    def watch() -> None:
        # os.read, not sys.stdin: a buffered reader blocked in a daemon thread aborts the
        # interpreter when it shuts down.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(0)

    if os.environ.get(LIFELINE) == "stdin":
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def log_to_stdout(part: str, parts: dict[str, str] | None = None) -> None:
    """Log lines to stdout, line by line, marked with the part of the stack they come from.

    ``parts`` names the part for loggers under a prefix (``{"chalicelib": "api"}``); the rest are ``part``.
    """
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d [%(part)s] %(message)s", datefmt="%H:%M:%S"))
    prefixes = sorted((parts or {}).items(), key=lambda entry: -len(entry[0]))

    def mark(record: logging.LogRecord) -> bool:
        record.part = next((name for prefix, name in prefixes if record.name.startswith(prefix)), part)
        return True

    handler.addFilter(mark)
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    # The app's own modules and the stack narrate at INFO; libraries only speak up when worried.
    for name in ("chalicelib", "local_stack", "app"):
        logging.getLogger(name).setLevel(logging.INFO)

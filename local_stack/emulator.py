"""The AWS emulator: moto's server on loopback, as a child process of the stack.

Run as ``python -m local_stack.emulator PORT``. It stops on SIGTERM or SIGINT, or when the
stack that started it is gone (see ``children``). moto keeps everything in memory, so each
run of the stack starts from an empty account.

One performance fix is applied to moto's SQS (``_bounded_receive_cost``): moto 5.2.5 checks
each received message's retention by computing every queue attribute, three of which count
all messages in the queue, so receiving slows down as the queue grows and a backlog from a
load test drains in minutes. The rule it checks is unchanged.
"""

import logging
import sys
import threading
from typing import Any

from local_stack import children
from local_stack.options import HOST

logger = logging.getLogger("local_stack.emulator")


def serve(port: int) -> int:
    stopping = children.stop_event()
    children.exit_with_parent()
    children.log_to_stdout("aws")
    # One line per request would drown the stack's own output; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _bounded_receive_cost()

    try:
        # What moto's ThreadedMotoServer does, minus its thread: a bind error must end this process.
        server = make_server(
            HOST,
            port,
            DomainDispatcherApplication(create_backend_app),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", HOST, port, error)
        return 2
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    stopping.wait()
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    return 0


def _bounded_receive_cost() -> None:
    """Make moto's retention check per received message O(1) instead of O(messages in the queue)."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if not hasattr(SQSBackend, "is_message_valid_based_on_retention_period"):
        return  # a moto that no longer has the slow check

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))

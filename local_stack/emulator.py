"""The AWS emulator: moto's server on loopback, as a child process of the stack.

Run as ``python -m local_stack.emulator PORT``. It stops on SIGTERM or SIGINT, or when the
stack that started it is gone (see ``children``). moto keeps everything in memory, so each
run of the stack starts from an empty account.
"""

import logging
import sys
import threading

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


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))

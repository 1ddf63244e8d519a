"""A real HTTP server on 127.0.0.1 for tests: serves a folder, plus custom routes."""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = Callable[[SimpleHTTPRequestHandler], None]


@contextlib.contextmanager
def serve(folder: Path, routes: dict[str, Route] | None = None) -> Iterator[str]:
    """Serve `folder` (and `routes`: path -> handler) on 127.0.0.1; yields the base URL."""
    routes = routes or {}

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is not None:
                route(self)
            else:
                super().do_GET()

        def do_POST(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
            else:
                route(self)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                return  # a client that read what it needed and hung up
            super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

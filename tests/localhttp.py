"""A real HTTP server on 127.0.0.1 for tests: serves a folder (with range requests, as web
servers do), plus custom routes, and can count the bytes it sent; and `loopback_only`, a
fixture under which a connection anywhere but this machine fails the test."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

Route = Callable[[SimpleHTTPRequestHandler], None]


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Limited:
    """A file read up to `left` bytes."""

    def __init__(self, f, left: int) -> None:
        self.f, self.left = f, left

    def read(self, n: int) -> bytes:
        data = self.f.read(min(n, self.left))
        self.left -= len(data)
        return data


@contextlib.contextmanager
def serve(
    folder: Path, routes: dict[str, Route] | None = None, sent: dict[str, int] | None = None
) -> Iterator[str]:
    """Serve `folder` (and `routes`: path -> handler) on 127.0.0.1; yields the base URL.
    sent: filled with the bytes of body sent per path."""
    routes = routes or {}

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def setup(self) -> None:
            super().setup()
            if sent is not None:  # counting: little may sit unread in the socket's buffer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is not None:
                route(self)
            elif _RANGE.match(self.headers.get("Range", "")):
                self._ranged()
            else:
                super().do_GET()

        def copyfile(self, source, outputfile) -> None:
            while chunk := source.read(64 * 1024):
                outputfile.write(chunk)
                if sent is not None:
                    key = self.path.split("?", 1)[0]
                    sent[key] = sent.get(key, 0) + len(chunk)

        def _ranged(self) -> None:
            path = self.translate_path(self.path)
            if not os.path.isfile(path):
                self.send_error(404)
                return
            size = os.path.getsize(path)
            a, b = _RANGE.match(self.headers["Range"]).groups()
            first, last = int(a), min(int(b) if b else size - 1, size - 1)
            if first >= size:
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            with open(path, "rb") as f:
                f.seek(first)
                self.copyfile(_Limited(f, last - first + 1), self.wfile)

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


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection this process opens goes to 127.0.0.1 (or ::1), or the test fails:
    autouse in each module that imports it."""
    real = socket.socket.connect

    def connect(self: socket.socket, address) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]).split("%", 1)[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:  # a name: connect() is given addresses, so never expected
                local = host == "localhost"
            if not local:
                raise AssertionError(f"a test tried to reach {host}: only 127.0.0.1 is allowed")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def reply(
    handler: SimpleHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json"
) -> None:
    """Answer a route with `body` (a whole response, with its length)."""
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def completion(text: str, model: str = "tiny-vlm") -> bytes:
    """An OpenAI chat completion answering `text`, as a local endpoint sends it."""
    import json

    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": text}}
            ],
        }
    ).encode()  # fmt: skip


def mjpeg(handler: SimpleHTTPRequestHandler, picture: Callable[[int], object]) -> None:
    """An endless MJPEG camera at 10 frames/s (multipart/x-mixed-replace): frame i is
    `picture(i)`, a uint8 (h, w, 3) array; stops when the client hangs up."""
    import io
    import time

    from PIL import Image

    handler.send_response(200)
    handler.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
    handler.end_headers()
    try:
        for i in range(600):
            buf = io.BytesIO()
            Image.fromarray(picture(i)).save(buf, "JPEG")
            data = buf.getvalue()
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
            handler.wfile.write(head + data + b"\r\n")
            handler.wfile.flush()
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass

"""A real HTTP receiver on loopback, in a thread: it records each request and
answers from a script (a status, a redirect, a large body, or no answer in
time), so that deliveries are tested over real sockets."""

from __future__ import annotations

import dataclasses
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b"ok"
    # Seconds to wait before answering: past the client's timeout, no answer.
    delay: float = 0.0
    # Headers sent one byte every this many seconds (a slow drip), when set.
    drip: float = 0.0


class Receiver:
    def __init__(self, *replies: Reply) -> None:
        self.script = list(replies)
        self.received: list[Received] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hooks", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def next_reply(self) -> Reply:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else (self.script[0] if self.script else Reply())


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            reply = receiver.next_reply()
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            receiver.arrived.set()
            if reply.delay:
                receiver.release.wait(reply.delay)
            if reply.drip:
                self._drip(reply.drip)
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up waiting

        def _drip(self, interval: float) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            try:
                for byte in b"x-slow: " + b"y" * 600:
                    if receiver.release.wait(interval):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except OSError:
                pass  # the client hung up

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def receiving(*replies: Reply, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver answering ``replies`` in turn (the last one again and again),
    over TLS with ``tls``, a server context."""
    receiver = Receiver(*replies)
    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    if tls is not None:
        receiver.server.socket = tls.wrap_socket(receiver.server.socket, server_side=True)
    receiver.server.daemon_threads = True
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(5)

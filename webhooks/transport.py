"""One POST to a checked webhook target, with the standard library's HTTP
client: it connects to the address that was checked (the host name is used
for the ``Host`` header and, over TLS, for SNI and the certificate), never
follows a redirect, stops after a deadline and reads a bounded excerpt of the
answer, so that a receiver can neither steer a delivery elsewhere nor keep a
worker busy."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import socket
import ssl
import threading
import time

from webhooks.url_policy import Target

RESPONSE_BODY_MAX_BYTES = 64 * 1024


class DeliveryError(Exception):
    """No answer: the reason stands in for a status code."""


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, address: str, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post_pinned(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to the first checked address of ``target`` within ``timeout``
    seconds in all; raises ``DeliveryError`` when no answer came."""
    deadline = time.monotonic() + timeout
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, target.addresses[0], timeout)
    # The socket's timeout bounds each read, not their sum: a receiver that
    # drips its answer a byte at a time is cut off at the deadline by this.
    watchdog = threading.Timer(timeout, _abort, args=(connection,))
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers={**headers, "user-agent": "coupon-webhooks/1"})
        response = connection.getresponse()
        excerpt = _read_bounded(response, deadline=deadline)
        return Answer(status=response.status, body=excerpt)
    except TimeoutError:
        raise DeliveryError(f"No answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline:
            raise DeliveryError(f"No answer within {timeout:g} s") from None
        raise DeliveryError(f"{type(error).__name__}: {error}"[:300]) from None
    finally:
        watchdog.cancel()
        connection.close()


def _abort(connection: http.client.HTTPConnection) -> None:
    if connection.sock is not None:
        with contextlib.suppress(OSError):  # closed meanwhile
            connection.sock.shutdown(socket.SHUT_RDWR)


def _read_bounded(response: http.client.HTTPResponse, *, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < RESPONSE_BODY_MAX_BYTES:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(min(16 * 1024, RESPONSE_BODY_MAX_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)

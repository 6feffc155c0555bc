"""An http.server that slow, stalled, oversized or vanishing clients cannot exhaust.

serving/rest.py puts TF Serving's REST API on it. What it bounds:

- connections: at most `max_connections` at once (one thread each); one more is answered
  503 and closed at once;
- time: a request (its line, headers and body) must arrive within `read_timeout` seconds of
  its first byte, however slowly the bytes trickle in; an idle keep-alive connection closes
  after as long; a TLS handshake runs in its connection's thread under the same limit, never
  in the accept loop;
- memory: a body is read only when its size is known to be within the limit (a Content-Length
  of digits, or chunked transfer-encoding counted as it arrives); anything else is refused
  before the rest is read: 400 for a malformed length, 413 past the limit, 415 for a
  Content-Encoding, 501 for a Transfer-Encoding other than chunked;
- noise: a client that disconnects, times out or fails its TLS handshake ends its connection
  without a traceback on stderr.
"""
from __future__ import annotations

import http.server
import io
import math
import re
import socket
import sys
import threading
import time

_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_MAX_LINE = 4096  # a chunk-size or trailer line
_MAX_TRAILERS = 64
_DRAIN_FACTOR = 4  # a declared body up to this many times the limit is read and dropped (see HttpError)


def drain_oversized(rfile, length: int, limit: int) -> None:
    """Reads and drops an announced body of `length` bytes over `limit` when it is at most
    _DRAIN_FACTOR times the limit, so the client can read the 413 answer (closing with unread
    data would reset the connection under it); a larger one is left for the close."""
    if length > _DRAIN_FACTOR * limit:
        return
    while length > 0:
        chunk = rfile.read(min(length, 1 << 16))
        if not chunk:
            break
        length -= len(chunk)


class HttpError(Exception):
    """A request refused at the HTTP level, with its status code; the connection is closed after it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _DeadlineReader(io.RawIOBase):
    """Socket reads under one deadline per request, so trickling bytes cannot extend it.

    A plain socket timeout restarts with every byte. Here the wait for a request's first byte
    (an idle keep-alive connection) gets `timeout`, and the whole request, from that byte on,
    gets `timeout` too. Writes keep the connection's plain `timeout`.
    """

    def __init__(self, connection: socket.socket, timeout: float):
        self._connection = connection
        self._timeout = timeout
        self._deadline = math.inf

    def next_request(self) -> None:
        self._deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        first = self._deadline == math.inf
        remaining = self._timeout if first else self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive within the read timeout")
        self._connection.settimeout(remaining)
        try:
            received = self._connection.recv_into(buffer)
        finally:
            self._connection.settimeout(self._timeout)
        if first:
            self._deadline = time.monotonic() + self._timeout
        return received


class BoundedHandler(http.server.BaseHTTPRequestHandler):
    """A request handler whose reads obey the server's read timeout; `read_body` reads within a limit."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own file, replaced by one that keeps the deadline
        self._reader = _DeadlineReader(self.connection, self.server.read_timeout)
        self.rfile = io.BufferedReader(self._reader, 1 << 16)

    def handle_one_request(self) -> None:
        self._reader.next_request()
        super().handle_one_request()

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests send thousands of requests
        pass

    def handle_expect_100(self) -> bool:
        """Refuses a body it would not read before the client sends it (curl asks for bodies > 1 MB)."""
        try:
            self._framing(self.body_limit())
        except HttpError as error:
            self.close_connection = True
            self.send_error_body(error)
            return False
        return super().handle_expect_100()

    def body_limit(self) -> int:
        """The largest body this request may have (subclasses say)."""
        raise NotImplementedError

    def send_error_body(self, error: HttpError) -> None:
        """Answers an HttpError (subclasses give it their body format)."""
        self.send_error(error.status, error.message)

    def body_or_refusal(self) -> bytes | None:
        """The body within `body_limit()`, or None once the refusal has been answered."""
        try:
            return self.read_body(self.body_limit())
        except HttpError as error:
            self.send_error_body(error)
            return None

    def read_body(self, limit: int) -> bytes:
        """The request body, read only if it fits in `limit` bytes; HttpError otherwise.

        OSError (a client that disconnects or misses the deadline) passes through: the connection
        is then dropped without an answer.
        """
        try:
            length = self._framing(limit)
        except HttpError:
            self.close_connection = True
            raise
        if length is None:
            return self._read_chunked(limit)
        if length > limit:
            self.close_connection = True
            drain_oversized(self.rfile, length, limit)
            raise HttpError(413, f"request body of {self.headers['Content-Length'].strip()} bytes exceeds the limit "
                                 f"of {limit} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError(f"the client closed the connection after {len(body)} of {length} body bytes")
        return body

    def _framing(self, limit: int) -> int | None:
        """The declared body length (None: chunked), checked against `limit` by the caller."""
        coding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if coding != "identity":
            raise HttpError(415, f"Content-Encoding {coding[:40]!r} is not supported; send the body uncompressed")
        transfer = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if transfer:
            if lengths:
                raise HttpError(400, "a request has Content-Length or Transfer-Encoding, not both")
            codings = [c.strip().lower() for c in ",".join(transfer).split(",")]
            if codings != ["chunked"]:
                raise HttpError(501, f"Transfer-Encoding {', '.join(codings)[:40]!r} is not supported "
                                     "(only chunked)")
            return None
        if not lengths:
            return 0  # HTTP/1.1: no Content-Length and no Transfer-Encoding is an empty body
        values = {value.strip() for value in lengths}
        text = values.pop()
        if values or not _CONTENT_LENGTH.fullmatch(text):
            shown = ", ".join(lengths)
            raise HttpError(400, f"Content-Length: {shown[:40]!r} is not a number of bytes")
        length = int(text)
        if length > limit and self.headers.get("Expect", "").lower() == "100-continue":
            raise HttpError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
        return length

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if not line or len(line) <= _MAX_LINE:
                    raise ConnectionError("the client closed the connection inside a chunked body")
                raise self._refuse_chunked(400, "a chunk-size line is too long")
            size_text = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise self._refuse_chunked(400, f"chunk size {size_text[:20]!r} is not a hexadecimal number")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > limit:
                raise self._refuse_chunked(413, f"chunked request body exceeds the limit of {limit} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.read(2) not in (b"\r\n",):
                raise self._refuse_chunked(400, "a chunk is shorter than its size or not followed by CRLF")
            body += chunk
        for _ in range(_MAX_TRAILERS):
            line = self.rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return bytes(body)
            if not line.endswith(b"\n"):
                raise ConnectionError("the client closed the connection inside a chunked body")
        raise self._refuse_chunked(400, f"more than {_MAX_TRAILERS} trailer lines after a chunked body")

    def _refuse_chunked(self, status: int, message: str) -> HttpError:
        self.close_connection = True
        return HttpError(status, message)


class BoundedHTTPServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer with a cap on connections, a read timeout, optional TLS and quiet disconnects.

    Args:
        address: (host, port); port 0 picks a free one.
        handler_class: a BoundedHandler subclass.
        max_connections: connections served at once; more are answered 503 and closed.
        read_timeout: seconds a client has to send a request (and the TLS handshake).
        ssl_context: a server-side ssl.SSLContext for HTTPS, or None.
    """

    daemon_threads = True
    block_on_close = False  # stopping the server does not wait for stalled clients' threads
    request_queue_size = 128  # the listen backlog: bursts of connections wait instead of being refused

    def __init__(self, address, handler_class, max_connections: int, read_timeout: float, ssl_context=None):
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.ssl_context = ssl_context
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler_class)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request, client_address) -> None:
        request.settimeout(self.read_timeout)
        connection = request
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(request, server_side=True)  # the handshake, timed
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            if connection is not request:
                connection.close()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # disconnects, timeouts, failed handshakes: the client's doing, nothing to report
        super().handle_error(request, client_address)

    def _refuse(self, request) -> None:
        """503 without a thread (plain HTTP only: a TLS answer would need a handshake here)."""
        if self.ssl_context is None:
            body = (b'{"error": "too many open connections (%d); try again later"}' % self.max_connections)
            try:
                request.setblocking(False)
                request.send(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
        self.shutdown_request(request)

"""HTTP transport for the simulator: request framing, chaos, hangs, logging, and make_server.

`make_server` works in-process too (bind port 0 and run `serve_forever` in a thread), which is
how the unit tests drive it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from supplier_sim import endpoints
from supplier_sim.config import ChaosConfig
from supplier_sim.endpoints import Call, Endpoint, Reply
from supplier_sim.state import RequestRecord, SupplierState, Verdict

logger = logging.getLogger("supplier_sim")

MAX_BODY_BYTES = 1024 * 1024


class SupplierServer(ThreadingHTTPServer):
    # A request sleeping through a hang must never keep the process from exiting.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SupplierState) -> None:
        self.state = state
        super().__init__(address, SupplierHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up mid-request are part of the job, not a crash worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away", client_address)
            return
        logger.exception("unhandled error serving %s", client_address)


def make_server(host: str, port: int, chaos: ChaosConfig) -> SupplierServer:
    return SupplierServer((host, port), SupplierState(chaos))


class _FramingError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and echoing them back would emit invalid JSON.
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    if not raw.strip():
        return None, False
    try:
        return json.loads(raw, parse_constant=_reject_constant), True
    except (ValueError, RecursionError):
        return None, False


def _query_dict(query: str) -> dict[str, str]:
    # The first value wins when a name repeats, as most web frameworks do.
    result: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        result.setdefault(name, value)
    return result


class SupplierHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, a keep-alive
    # client's delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True
    server_version = "supplier_sim"
    # Idle keep-alive connections would otherwise pin a thread forever.
    timeout = 60

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    @property
    def _state(self) -> SupplierState:
        if not isinstance(self.server, SupplierServer):
            raise TypeError("SupplierHandler must be served by a SupplierServer")
        return self.server.state

    def _serve(self) -> None:
        started = time.perf_counter()
        outcome = "-"
        try:
            raw = self._read_body()
        except _FramingError as exc:
            # The unread body would be parsed as the next request on this connection.
            self.close_connection = True
            reply = endpoints.error(exc.status, exc.message)
        else:
            reply, outcome = self._route(raw)
        self._send(reply)
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s %d %s %.1fms x-request-id=%s",
            self.command,
            self.path,
            reply.status,
            outcome,
            elapsed_ms,
            self.headers.get("X-Request-ID", "-"),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _FramingError(411, "Content-Length required")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _FramingError(400, "invalid Content-Length") from None
        if length < 0:
            raise _FramingError(400, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise _FramingError(413, "request body too large")
        return self.rfile.read(length)

    def _headers_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def _route(self, raw: bytes) -> tuple[Reply, str]:
        """The reply and the chaos outcome ("-" where chaos does not apply)."""
        split = urlsplit(self.path)
        matched = endpoints.match(split.path)
        if matched is None:
            return endpoints.error(404, "not found"), "-"
        route, params = matched
        endpoint = route.methods.get(self.command)
        query = _query_dict(split.query)
        headers = self._headers_dict()
        body, body_is_json = _parse_json(raw)

        record: RequestRecord | None = None
        verdict = Verdict("ok")
        if route.supplier:
            record, verdict = self._state.admit(
                method=self.command,
                path=split.path,
                query=query,
                headers=headers,
                body=body,
                chaotic=endpoint is not None,
            )

        if endpoint is None:
            allow = ", ".join(sorted(route.methods))
            reply = endpoints.error(405, "method not allowed", (("Allow", allow),))
        elif verdict.outcome == "failed":
            # A failing supplier fails before it looks at the body, so no validation either.
            reply = endpoints.error(503, "supplier unavailable")
        else:
            call = Call(self._state, params, query, headers, body, body_is_json)
            reply = self._run(endpoint, call)

        if record is not None:
            self._state.settle(record, reply.status)
        if verdict.outcome == "hung":
            # The work is already done and recorded: like a real supplier, only the answer is
            # late, which is exactly what makes blind retries without a key dangerous.
            time.sleep(verdict.hang_seconds)
        return reply, verdict.outcome if route.supplier else "-"

    def _run(self, endpoint: Endpoint, call: Call) -> Reply:
        try:
            return endpoint(call)
        except Exception:
            logger.exception("endpoint failed: %s %s", self.command, self.path)
            return endpoints.error(500, "internal error")

    def _send(self, reply: Reply) -> None:
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped waiting, typically during a hang; there is nobody to tell.
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines and unknown methods arrive here; answer in JSON like the rest.
        self.close_connection = True
        reply = endpoints.error(
            code, message or HTTPStatus(code).phrase, (("Connection", "close"),)
        )
        self._send(reply)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Replaced by the single richer line that _serve logs once the response is out.
        return

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)

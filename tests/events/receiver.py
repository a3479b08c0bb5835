"""A real webhook receiver for tests: an HTTP server on a local port that can be down.

It records every POST (headers, body, whether the signature was valid) and checks what
at-least-once, in-order delivery promises: per instance, no two requests at once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from caseflow.events.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass
class Received:
    envelope: dict[str, Any]
    signed: bool
    headers: dict[str, str]


@dataclass
class Receiver:
    secret: str
    port: int = 0
    mode: str = "up"  # "up" | "failing" (HTTP 503)
    delay: float = 0.0  # seconds per request while up
    received: list[Received] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)  # instances seen twice at once
    _in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen (until then, connections are refused: the receiver is down)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.mode != "up":
                    self.send_response(503)
                    self.end_headers()
                    return
                envelope = json.loads(body)
                key = envelope.get("instanceId") or envelope["id"]
                with receiver._lock:
                    if key in receiver._in_flight:
                        receiver.overlaps.append(key)
                    receiver._in_flight.add(key)
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    signed = verify_signature(
                        receiver.secret, self.headers.get(TIMESTAMP_HEADER), body,
                        self.headers.get(SIGNATURE_HEADER),
                    )
                    with receiver._lock:
                        receiver.received.append(
                            Received(envelope, signed, dict(self.headers.items()))
                        )
                finally:
                    with receiver._lock:
                        receiver._in_flight.discard(key)
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        with self._lock:
            return [r.envelope["id"] for r in self.received]

    def first_arrivals(self) -> list[dict[str, Any]]:
        """Each event once, in the order it first arrived."""
        seen: set[str] = set()
        found = []
        with self._lock:
            for r in self.received:
                if r.envelope["id"] not in seen:
                    seen.add(r.envelope["id"])
                    found.append(r.envelope)
        return found

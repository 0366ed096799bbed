"""An HTTP proxy on 127.0.0.1 in front of the test S3 server: delays, drops conditions, counts.

Run as a process of its own (``python tests/_proxy.py UPSTREAM_PORT [--delay MS]
[--strip-conditions]``); it prints its port, then forwards every request to the
upstream server unchanged, except that it waits ``--delay`` milliseconds first
(an object store far away) and, with ``--strip-conditions``, removes
``If-None-Match`` and ``If-Match`` (a server that ignores conditional writes).
``GET /__stats`` answers the requests forwarded so far, by method.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS: Counter[str] = Counter()
LOCK = threading.Lock()
CONDITIONS = ("if-none-match", "if-match")


def handler(upstream: int, delay: float, strip: bool) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms stall

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if self.path == "/__stats":
                body = json.dumps(dict(COUNTS)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()
                       if not (strip and k.lower() in CONDITIONS)}
            with LOCK:
                COUNTS[self.command] += 1
            if delay:
                time.sleep(delay)
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException):
                local.conn = None
                raise
            self.send_response(reply.status, reply.reason)
            for key, value in reply.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Forward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream", type=int)
    parser.add_argument("--delay", type=float, default=0.0, help="milliseconds per request")
    parser.add_argument("--strip-conditions", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 handler(args.upstream, args.delay / 1000, args.strip_conditions))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin (or kills us)


if __name__ == "__main__":
    main()

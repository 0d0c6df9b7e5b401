"""A tiny real HTTP server on 127.0.0.1 for venue REST tests: JSON responses, query parsing, env wiring."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class JsonHandler(BaseHTTPRequestHandler):
    """Base handler: quiet, parses the query string, answers JSON."""

    def log_message(self, *args: object) -> None:
        return

    def route(self) -> tuple[str, dict[str, str]]:
        url = urllib.parse.urlparse(self.path)
        return url.path, {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}

    def send_json(self, body: Any, status: int = 200) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler], monkeypatch: pytest.MonkeyPatch, venue: str
) -> Iterator[str]:
    """Serve ``handler`` on a free port and point ``LEVRADAR_<VENUE>_REST_URL`` at it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv(f"LEVRADAR_{venue.upper()}_REST_URL", url)
    try:
        yield url
    finally:
        httpd.shutdown()
        httpd.server_close()

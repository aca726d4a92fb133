"""The zero-install web page: a tiny static HTTP server for ros_detect/web/ (index.html + the built app.js).

The page connects to the bridge's Foxglove WebSocket server itself; `/config.json` tells it the port.
Only the shipped files are served (no directory listing, no path traversal).
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ros_detect.errors import ConfigError
from ros_detect.foxglove.ports import PortInUseError, start_on_free_port
from ros_detect.paths import PACKAGE_DIR

log = logging.getLogger(__name__)
WEB_DIR = PACKAGE_DIR / "web"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


def _handler(files: dict[str, Path], config: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/config.json":
                self._send(200, "application/json", config)
            elif path in files:
                file = files[path]
                self._send(200, _TYPES.get(file.suffix, "application/octet-stream"), file.read_bytes())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http: " + format, *args)

    return Handler


class WebPageServer:
    """Serves the page on `host:port` (0 = any free port; `fallback`: the next free one if taken) from a daemon
    thread; `asked_port` is the configured port when another one serves."""

    def __init__(self, host: str, port: int, ws_port: int, web_dir: Path = WEB_DIR, fallback: bool = False) -> None:
        index = web_dir / "index.html"
        if not index.is_file():
            raise ConfigError(f"web page not found at {index}", "reinstall ros_detect (package data web/*)")
        files = {"/" + p.name: p for p in web_dir.iterdir() if p.is_file()}
        files["/"] = index
        config = json.dumps({"ws_port": int(ws_port)}).encode()
        handler = _handler(files, config)

        def serve(on_port: int) -> ThreadingHTTPServer:
            try:
                return ThreadingHTTPServer((host, on_port), handler)
            except OSError as exc:
                error = PortInUseError if exc.errno == errno.EADDRINUSE else ConfigError
                raise error(
                    f"cannot serve the web page on {host}:{on_port}: {exc.strerror}",
                    "pick another port (e.g. `-p foxglove_bridge.http_port=8776`; 0 = any free port, -1 = no page)",
                ) from None

        self.httpd, self.asked_port = start_on_free_port(serve, int(port), fallback, "web page")
        self.httpd.daemon_threads = True
        self.host = host
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fox-http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=2.0)

"""An MJPEG-over-HTTP camera on 127.0.0.1: multipart/x-mixed-replace JPEG frames at a steady rate.

Stands in for a webcam in tests, benchmarks and demos (`ros-detect serve-mjpeg`): frames come from
ros_detect.media.synthetic.render_frame (deterministic) or from a video file, looped. The server can be
stopped (every open stream is cut, as when a camera disappears) and restarted on the same port.
OpenCV's FFmpeg backend reads it with cv2.VideoCapture(server.url).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from ros_detect.errors import InputError
from ros_detect.media.synthetic import render_frame


def _load_jpegs(video: str, size: tuple[int, int], max_frames: int) -> list[bytes]:
    cap = cv2.VideoCapture(video)
    jpegs: list[bytes] = []
    while len(jpegs) < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        jpegs.append(cv2.imencode(".jpg", cv2.resize(frame, size, interpolation=cv2.INTER_AREA))[1].tobytes())
    cap.release()
    if not jpegs:
        raise InputError(f"no frame of {video} could be read", "pass a readable video file")
    return jpegs


BOUNDARY = "rosdetectframe"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MjpegServer:
    """Serves `http://127.0.0.1:<port>/stream.mjpg`; `frames_sent` counts JPEGs written to all clients."""

    def __init__(
        self,
        fps: float = 15.0,
        size: tuple[int, int] = (640, 360),
        port: int | None = None,
        video: str | None = None,
        max_frames: int = 300,
    ) -> None:
        self.fps = fps
        self.size = size
        self.port = port or free_port()
        self.frames_sent = 0
        self.clients_served = 0
        self._jpegs = (
            _load_jpegs(video, size, max_frames)
            if video
            else [cv2.imencode(".jpg", render_frame(i, size))[1].tobytes() for i in range(30)]
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                if not self.path.startswith("/stream"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                with server._lock:
                    server.clients_served += 1
                index, period = 0, 1.0 / server.fps
                next_t = time.monotonic()
                try:
                    while server._running.is_set():
                        jpeg = server._jpegs[index % len(server._jpegs)]
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        with server._lock:
                            server.frames_sent += 1
                        index += 1
                        next_t += period
                        time.sleep(max(0.0, next_t - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        return Handler

    def start(self) -> MjpegServer:
        if self._httpd is not None:
            return self
        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._httpd.daemon_threads = True
        self._running.set()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cut every stream and stop listening: the camera 'disappears' (connection refused)."""
        if self._httpd is None:
            return
        self._running.clear()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
        time.sleep(2.5 / self.fps)  # let handler threads notice and close their sockets

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

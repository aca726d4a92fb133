"""An MJPEG-over-HTTP test camera on 127.0.0.1: multipart/x-mixed-replace JPEG frames at a steady rate.

The one stand-in webcam of the project: `ros-detect serve-mjpeg`, the `ros-detect soak` camera, benchmarks
and tests. Frames come from ros_detect.media.synthetic.render_frame (30 distinct frames, cycled) or from a
video file, looped; they are JPEG-encoded once up front, so the camera itself costs almost no CPU and a
soak or benchmark measures the graph, not the camera. The server can be stopped (every open stream is
cut, as when a camera disappears) and restarted on the same port. OpenCV's FFmpeg backend reads it with
cv2.VideoCapture(server.url).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from ros_detect.errors import ConfigError, InputError
from ros_detect.media.synthetic import render_frame

BOUNDARY = "rosdetectframe"
SYNTHETIC_FRAMES = 30
STOP_WAIT_S = 5.0  # longest stop() waits for open streams to close


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class MjpegServer:
    """Serves `http://<host>:<port>/stream.mjpg` at `fps`.

    `port` None or 0 picks a free port at the first `start()` and keeps it for restarts. `frames_sent`
    counts JPEGs written to all clients, `clients_served` the streams opened.
    """

    def __init__(
        self,
        fps: float = 15.0,
        size: tuple[int, int] = (640, 360),
        port: int | None = None,
        video: str | None = None,
        max_frames: int = 300,
        host: str = "127.0.0.1",
    ) -> None:
        if not fps > 0:
            raise ConfigError(f"camera fps must be > 0, got {fps}", "pass a positive rate, e.g. --fps 15")
        self.fps = float(fps)
        self.size = size
        self.host = host
        self.port = int(port or 0)
        self.frames_sent = 0
        self.clients_served = 0
        self._jpegs = (
            _load_jpegs(video, size, max_frames)
            if video
            else [cv2.imencode(".jpg", render_frame(i, size))[1].tobytes() for i in range(SYNTHETIC_FRAMES)]
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # set: every stream ends at once (no wait for its next frame)
        self._cond = threading.Condition()  # guards the counters and `_open_streams`
        self._open_streams = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/stream.mjpg"

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        with self._cond:
            self.clients_served += 1
            self._open_streams += 1
        index, period, next_t = 0, 1.0 / self.fps, time.monotonic()
        try:
            while not self._stopping.is_set():
                jpeg = self._jpegs[index % len(self._jpegs)]
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                handler.wfile.write(head.encode() + jpeg + b"\r\n")
                handler.wfile.flush()
                with self._cond:
                    self.frames_sent += 1
                index += 1
                next_t += period
                self._stopping.wait(max(0.0, next_t - time.monotonic()))  # steady rate; wakes on stop()
        except OSError:  # the reader went away
            pass
        finally:
            with self._cond:
                self._open_streams -= 1
                self._cond.notify_all()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:  # keep test and soak output quiet
                pass

            def do_GET(self) -> None:
                if not self.path.startswith("/stream"):
                    self.send_error(404)
                    return
                server._stream(self)

        return Handler

    def start(self) -> MjpegServer:
        if self._httpd is not None:
            return self

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True  # a restart binds the same port while old sockets sit in TIME_WAIT
            daemon_threads = True

        self._stopping.clear()
        self._httpd = Server((self.host, self.port), self._handler())
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cut every stream and stop listening: the camera 'disappears' (connection refused)."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
        with self._cond:  # every stream's socket is closed when its handler returns
            self._cond.wait_for(lambda: self._open_streams == 0, timeout=STOP_WAIT_S)

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

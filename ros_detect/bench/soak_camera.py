"""A loopback MJPEG-over-HTTP camera for `ros-detect soak`: synthetic street frames at a fixed rate.

Binds 127.0.0.1 only. Frames are pre-encoded (30 distinct JPEGs, cycled), so the camera itself costs
almost no CPU and the soak measures the graph, not the test camera.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "rosdetectsoak"


class SoakCamera:
    """Serves `http://127.0.0.1:<port>/stream.mjpg` at `fps`; `frames_sent` counts JPEGs written."""

    def __init__(self, fps: float = 15.0, size: tuple[int, int] = (640, 360), host: str = "127.0.0.1") -> None:
        import cv2

        from ros_detect.media.synthetic import render_frame

        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.fps = fps
        self.frames_sent = 0
        self._jpegs = [cv2.imencode(".jpg", render_frame(i, size))[1].tobytes() for i in range(30)]
        self._running = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="soak-camera", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                index, period, next_t = 0, 1.0 / camera.fps, time.monotonic()
                try:
                    while camera._running.is_set():
                        jpeg = camera._jpegs[index % len(camera._jpegs)]
                        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                        with camera._lock:
                            camera.frames_sent += 1
                        index += 1
                        next_t += period
                        time.sleep(max(0.0, next_t - time.monotonic()))
                except OSError:  # the reader went away
                    pass

        return Handler

    def start(self) -> SoakCamera:
        self._running.set()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running.clear()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SoakCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

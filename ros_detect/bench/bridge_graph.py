"""The real foxglove_bridge node fed by the fake pipeline, as separate processes on a private ROS domain.

For the web view's benchmark and screenshot (scripts/) and its tests. Both are started as executables
(foxglove_bridge beside this Python, `python -m ros_detect.nodes.fake_pipeline`), never imported here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ros_detect.graph.isolation import isolated_ros_env
from ros_detect.media.mjpeg_server import free_port
from ros_detect.paths import PACKAGE_DIR

BIN = Path(sys.executable).parent
PACKAGE_ROOT = PACKAGE_DIR.parent  # children run from here, so `-m ros_detect...` imports this same copy


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class BridgeGraph:
    """`with BridgeGraph(rate=10) as g:` -> g.ws_url, g.page_url; the fake pipeline stops by itself.

    `sources=["cam1", "cam2"]`: the pipeline publishes under each namespace and the bridge serves them all.
    """

    rate: float = 10.0
    duration: float = 60.0
    noise: bool = False
    synthetic: bool = False
    weights: str | list[str] | None = None  # weights label of the fake documents, or one per source (random-init)
    sources: list[str] = field(default_factory=list)
    bridge_params: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=isolated_ros_env)
    ws_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.log_dir / f"{name}.log", "w") if self.log_dir else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, env=self.env, cwd=PACKAGE_ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_bridge(self) -> subprocess.Popen:
        params = {"port": self.ws_port, "http_port": self.http_port, **self.bridge_params}
        if self.sources:
            params.setdefault("sources", f"[{','.join(self.sources)}]")
        args = [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
        bridge = self._spawn("bridge", [str(BIN / "foxglove_bridge"), "--ros-args", *args])
        # The page server starts after the WebSocket server: probing it avoids a failed-handshake log line.
        wait_port(self.http_port if int(params["http_port"]) > 0 else self.ws_port, bridge)
        return bridge

    def start_pipeline(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "ros_detect.nodes.fake_pipeline", "--rate", str(self.rate)]
        cmd += ["--duration", str(self.duration)]
        flags = [f for f, on in (("--noise", self.noise), ("--synthetic", self.synthetic)) if on]
        if self.weights is not None:
            flags += ["--weights", *([self.weights] if isinstance(self.weights, str) else self.weights)]
        flags += ["--sources", *self.sources] if self.sources else []
        return self._spawn("pipeline", [*cmd, *flags])

    def __enter__(self) -> BridgeGraph:
        self.start_bridge()
        self.start_pipeline()
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

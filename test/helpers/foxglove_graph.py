"""Start the real foxglove_bridge node and a fake pipeline as separate processes on an isolated ROS domain."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helpers.mjpeg import free_port
from helpers.ros import ros_env
from helpers.wait import wait_until

__all__ = ["BIN", "REPO", "BridgeGraph", "free_port", "ros_env", "wait_port"]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FAKE = Path(__file__).with_name("fake_pipeline.py")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`, failing early if `proc` exits."""

    def listening_or_exited() -> bool:
        if proc.poll() is not None:
            return True
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    if not wait_until(listening_or_exited, timeout, interval_s=0.1):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
    if proc.poll() is not None:
        raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")


@dataclass
class BridgeGraph:
    """`with BridgeGraph(rate=10) as g:` -> g.ws_url, g.page_url; the fake pipeline stops by itself."""

    rate: float = 10.0
    duration: float = 60.0
    noise: bool = False
    synthetic: bool = False
    bridge_params: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=ros_env)
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
        proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_bridge(self) -> subprocess.Popen:
        params = {"port": self.ws_port, "http_port": self.http_port, **self.bridge_params}
        args = [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
        bridge = self._spawn("bridge", [str(BIN / "foxglove_bridge"), "--ros-args", *args])
        # The page server starts after the WebSocket server: probing it avoids a failed-handshake log line.
        wait_port(self.http_port if int(params["http_port"]) > 0 else self.ws_port, bridge)
        return bridge

    def start_pipeline(self) -> subprocess.Popen:
        cmd = [sys.executable, str(FAKE), "--rate", str(self.rate), "--duration", str(self.duration)]
        flags = [f for f, on in (("--noise", self.noise), ("--synthetic", self.synthetic)) if on]
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

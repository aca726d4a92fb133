"""Bad node parameters: the node refuses to start with one message naming the parameter and the fix.

Real node processes (`python -m ros_detect.nodes.X --ros-args -p ...`), started together so the torch
imports overlap; each must exit 2 with `error: ...` naming the parameter, `fix: ...`, and no traceback.
Cases already covered elsewhere: missing video input (test_nodes_ros), bad TLS files (test_mqtt_bridge),
busy ports (test_foxglove), bad model/precision/weights in the CLI (test_video_cli, test_detector), and
missing / directory weights paths (test_detector::test_bad_weights_files).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.ros import ros_env

pytest.importorskip("rclpy", reason="needs the rclpy wheels (pip install -e .[ros])")
pytestmark = pytest.mark.ros

BATCH = 8
FAST = [
    "-p", "weights:=none", "-p", "model:=fasterrcnn_mobilenet_v3_large_320_fpn", "-p", "threads:=1",
    "-p", "precision:=fp32",
]  # fmt: skip

# id -> (node module, extra --ros-args, words that must all appear in stderr)
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "detector-wrong-type": ("detector", ["-p", "proposals:=abc"], ["'proposals'", "wrong type", "-p proposals:="]),
    "detector-zero-proposals": ("detector", ["-p", "proposals:=0"], ["proposals", ">= 1"]),
    "detector-negative-threads": ("detector", ["-p", "threads:=-1"], ["threads", ">= 0"]),
    "detector-unknown-model": ("detector", ["-p", "model:=yolo9000"], ["unknown model 'yolo9000'", "choose one of"]),
    "detector-unknown-precision": ("detector", ["-p", "precision:=int3"], ["unknown precision 'int3'", "fp32"]),
    "detector-unreadable-weights": ("detector", ["-p", "weights:={tmp}/garbage.pth"], ["cannot read weights file"]),
    "detector-wrong-architecture": ("detector", ["-p", "weights:={tmp}/lin.pth"], ["does not fit", "checkpoint of"]),
    "camera-negative-fps": ("camera_source", ["-p", "max_fps:=-1.0"], ["'max_fps'", "out of range", "positive"]),
    "camera-zero-timeout": ("camera_source", ["-p", "open_timeout_s:=0.0"], ["'open_timeout_s'", "out of range"]),
    "camera-zero-depth": ("camera_source", ["-p", "image_depth:=0"], ["image_depth", ">= 1"]),
    "camera-wrong-type": ("camera_source", ["-p", "reconnect_max_s:=soon"], ["'reconnect_max_s'", "wrong type"]),
    "video-zero-in-flight": ("video_source", ["-p", "input:={clip}", "-p", "max_in_flight:=0"], ["'max_in_flight'"]),
    "video-input-is-a-dir": ("video_source", ["-p", "input:={tmp}"], ["not a readable file"]),
    "video-not-a-video": ("video_source", ["-p", "input:={tmp}/garbage.pth"], ["cannot decode", "as a video"]),
    "main-person-negative": ("main_person", ["-p", "hold_frames:=-1"], ["hold_frames", "out of range"]),
    "main-person-wrong-type": ("main_person", ["-p", "hold_frames:=true"], ["'hold_frames'", "wrong type"]),
    "foxglove-negative-port": ("foxglove_bridge", ["-p", "port:=-5"], ["port", "0..65535"]),
    "foxglove-zero-quality": ("foxglove_bridge", ["-p", "jpeg_quality:=0", "-p", "port:=0"], ["jpeg_quality"]),
    "mqtt-wrong-type": ("mqtt_bridge", ["-p", "port:=mqtt"], ["port", "fix:"]),
    "mqtt-password-wrong-type": ("mqtt_bridge", ["-p", "password:=424242"], ["'password'", "value not shown"]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, clip_path: Path) -> dict[str, subprocess.CompletedProcess]:
    import torch

    tmp = tmp_path_factory.mktemp("bad-params")
    (tmp / "garbage.pth").write_bytes(b"\x80\x04not a checkpoint" * 100)
    torch.save(torch.nn.Linear(4, 2).state_dict(), tmp / "lin.pth")  # a valid state_dict, wrong model
    env = ros_env()
    out: dict[str, subprocess.CompletedProcess] = {}
    cases = list(CASES)
    for start in range(0, len(cases), BATCH):  # a few at a time: each detector process imports torch (~0.5 GB)
        procs = {}
        for case in cases[start : start + BATCH]:
            node, extra, _ = CASES[case]
            args = [a.format(tmp=tmp, clip=clip_path) for a in extra]
            if node == "detector":
                args = [*FAST, *args]  # later -p wins, so the case's own value overrides FAST
            cmd = [sys.executable, "-m", f"ros_detect.nodes.{node}", "--ros-args", *args]
            procs[case] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for case, proc in procs.items():
            try:
                stdout, stderr = proc.communicate(timeout=240)
            except subprocess.TimeoutExpired:  # a node that starts instead of refusing: the test fails below
                proc.kill()
                stdout, stderr = proc.communicate()
            out[case] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_node_refuses_bad_parameter_naming_it_and_the_fix(case: str, results: dict) -> None:
    proc = results[case]
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, f"{case}: exit {proc.returncode}\n{text[-2000:]}"
    assert "Traceback" not in text, text[-3000:]
    assert "error: " in proc.stderr and "  fix: " in proc.stderr, proc.stderr[-1500:]
    for word in CASES[case][2]:
        assert word in proc.stderr, f"{case}: {word!r} not in\n{proc.stderr[-1500:]}"
    assert "424242" not in text  # a mistyped password is not echoed either

"""The zero-install page in a real headless Chromium (Debian `chromium`, driven by npm `playwright-core`).

The page is served by the real foxglove_bridge node and fed by the fake pipeline process; the test asserts on
what is drawn: the main-person box in green exactly where the main_person document puts it, over the frame
with that document's stamp, and the JSON panel showing that document.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.fake_pipeline import BACKGROUND_BGR, CHAIR_BOX, PERSON_BGR, person_box
from helpers.foxglove_client import FoxgloveTestClient
from helpers.foxglove_graph import REPO, BridgeGraph, free_port, ros_env, wait_port

from ros_detect import schema
from ros_detect.bench.fake_feed import source_frame_id
from ros_detect.detection.weights import RANDOM_INIT_LABEL

DRIVER = REPO / "web" / "test" / "view.mjs"
CHROMIUM = Path("/usr/bin/chromium")
SETUP_FIX = "run `bash scripts/setup.sh --test` (installs chromium and runs `npm ci` in web/)"


def _require_browser_tools() -> str:
    node = shutil.which("node")
    missing = [
        what
        for what, ok in [
            ("node", node is not None),
            ("chromium", CHROMIUM.is_file()),
            ("web/node_modules/playwright-core", (REPO / "web" / "node_modules" / "playwright-core").is_dir()),
        ]
        if not ok
    ]
    if missing:
        pytest.fail(f"missing for the browser test: {', '.join(missing)}; {SETUP_FIX}")
    return node


def open_page(
    url: str, screenshot: Path, min_frames: int = 5, require_main: bool = True, sources: list[str] | None = None
) -> dict:
    node = _require_browser_tools()
    proc = subprocess.run(
        [node, str(DRIVER), url, str(screenshot), str(min_frames), "40000", "1" if require_main else "0"]
        + ([",".join(sources)] if sources else []),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"browser driver failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _green(rgba: list[int]) -> bool:
    return rgba[1] > 200 and rgba[0] < 90 and rgba[2] < 90


def _close(rgba: list[int], bgr: tuple[int, int, int], tol: int = 20) -> bool:
    return all(abs(rgba[i] - bgr[2 - i]) <= tol for i in range(3))


@pytest.fixture
def graph(tmp_path_factory: pytest.TempPathFactory):
    # Per test (one test uses it): no fake pipeline keeps publishing while the later tests run their own graphs.
    with BridgeGraph(rate=10.0, duration=600, log_dir=tmp_path_factory.mktemp("web_graph")) as g:
        yield g


def test_page_draws_the_main_person_box_on_its_frame(graph: BridgeGraph, tmp_path: Path) -> None:
    shot = tmp_path / "web_view.png"
    result = open_page(graph.page_url, shot)
    state = result["state"]
    assert state["connected"] and state["errors"] == [] and result["consoleErrors"] == []
    assert result["status"] == f"connected to ws://127.0.0.1:{graph.ws_port}"
    drawn = state["lastDrawn"]
    assert drawn["bare"] is False and state["framesDrawn"] >= 5

    # DOM: the JSON panel shows the very main_person document whose frame is on the canvas.
    shown = json.loads(result["mainJson"])
    schema.validate(shown)
    assert shown["seq"] == drawn["seq"]
    assert str(schema.stamp_to_ns(shown["stamp"])) == drawn["stamp"] == result["canvas"]["dataStamp"]
    assert drawn["mainBox"] == shown["box"] == person_box(shown["seq"])
    assert drawn["boxes"] == [CHAIR_BOX]  # the other detection, drawn thin; the person's own box not twice

    # Pixels of the canvas: green outline on the box edges; the frame underneath is the one with that stamp
    # (the grey person fills the box in exactly that frame: the fake person moves 3 px every frame).
    px = result["pixels"]
    for edge in ("left", "right", "bottom"):
        assert _green(px[edge]), f"{edge} edge of the main box is not green: {px[edge]}"
    assert _close(px["inside"], PERSON_BGR), px["inside"]
    assert _close(px["outside"], BACKGROUND_BGR), px["outside"]

    # The screenshot itself (what a user sees): green outline where the box is, scaled to the displayed canvas.
    image = cv2.imread(str(shot))
    assert image is not None
    _assert_box_in_screenshot(image, result)

    # Latency: the page drew a frame well within a second of its capture.
    assert 0 <= state["displayLatencyMs"] < 1000
    assert "fps" in result["stats"]

    # The fake results say random-init weights: a red banner says so above the picture.
    _assert_untrained_banner(result, image)


def _assert_box_in_screenshot(image: np.ndarray, view: dict) -> None:
    """The main box of a view, green on its left edge, the person inside, where the view's canvas is on screen."""
    left, top, width, _height = view["canvas"]["screenRect"]
    scale = width / view["canvas"]["width"]
    x1, y1, x2, y2 = view["state"]["lastDrawn"]["mainBox"]
    ys = slice(int(top + (y1 + 30) * scale), int(top + (y2 - 10) * scale))
    column = image[ys, int(left + x1 * scale) - 3 : int(left + x1 * scale) + 4]
    green = (column[..., 1] > 200) & (column[..., 0] < 90) & (column[..., 2] < 90)
    assert green.any(axis=1).mean() > 0.95, "no green left edge of the main box in the screenshot"
    centre = image[int(top + (y1 + y2) / 2 * scale), int(left + (x1 + x2) / 2 * scale)].astype(int)
    assert np.abs(centre - PERSON_BGR).max() < 25


def _assert_view_draws_its_source(view: dict, frame_id: str) -> None:
    """The view drew this source's frames with their own results: its document, its box, its person."""
    drawn = view["state"]["lastDrawn"]
    assert view["visible"] and drawn["bare"] is False and view["state"]["framesDrawn"] >= 2
    shown = json.loads(view["mainJson"])
    schema.validate(shown)
    assert shown["frame_id"] == frame_id and shown["seq"] == drawn["seq"]
    assert str(schema.stamp_to_ns(shown["stamp"])) == drawn["stamp"] == view["canvas"]["dataStamp"]
    assert drawn["mainBox"] == shown["box"] == person_box(shown["seq"]) and drawn["boxes"] == [CHAIR_BOX]
    px = view["pixels"]
    for edge in ("left", "right", "bottom"):
        assert _green(px[edge]), f"{frame_id}: {edge} edge of the main box is not green: {px[edge]}"
    assert _close(px["inside"], PERSON_BGR) and _close(px["outside"], BACKGROUND_BGR), px


def _assert_untrained_banner(result: dict, image: np.ndarray) -> None:
    banner = result["banner"]
    assert result["state"]["untrained"] is True and result["state"]["weights"] == RANDOM_INIT_LABEL
    assert banner["visible"] and "UNTRAINED WEIGHTS" in banner["text"] and "NOT A REAL RESULT" in banner["text"]
    assert result["weights"] == f"weights: {RANDOM_INIT_LABEL}"
    left, top, width, height = (int(v) for v in banner["screenRect"])
    strip = image[top + 2 : top + height - 2, left + width // 2 : left + width - 4].reshape(-1, 3).astype(int)
    red = (strip[:, 2] > 150) & (strip[:, 1] < 60) & (strip[:, 0] < 60)  # BGR
    assert red.mean() > 0.5, "the banner is not red in the screenshot"


def test_page_shows_no_banner_for_trained_weights(tmp_path: Path) -> None:
    with BridgeGraph(rate=10.0, duration=600, weights="pretrained (COCO_V1)", log_dir=tmp_path) as g:
        result = open_page(g.page_url, tmp_path / "trained.png", min_frames=2)
    assert result["state"]["untrained"] is False and result["state"]["errors"] == []
    assert not result["banner"]["visible"] and result["weights"] == "weights: pretrained (COCO_V1)"


def test_page_shows_every_source_side_by_side_and_switches_to_one(tmp_path: Path) -> None:
    """A bridge with sources [cam1, cam2]: the page shows a tile per camera (image, main-person box, weights
    banner of that camera's own results), then, picked in the selector, one camera large with its document."""
    sources, trained = ["cam1", "cam2"], "pretrained (COCO_V1)"
    weights = [RANDOM_INIT_LABEL, trained]  # only cam1's results are untrained: only its tile has the banner
    with BridgeGraph(rate=10.0, duration=600, sources=sources, weights=weights, log_dir=tmp_path) as g:
        result = open_page(g.page_url, tmp_path / "grid.png", min_frames=3, sources=sources)
    assert result["consoleErrors"] == [] and result["topState"]["errors"] == []
    assert result["status"] == f"connected to ws://127.0.0.1:{g.ws_port}"
    assert result["topState"]["mode"] == "grid"

    grid, image = result["grid"], cv2.imread(str(tmp_path / "grid.png"))
    for name in sources:
        _assert_view_draws_its_source(grid[name], source_frame_id(name))
        _assert_box_in_screenshot(image, grid[name])
        assert "fps" in grid[name]["stats"]
    _assert_untrained_banner(grid["cam1"], image)
    assert not grid["cam2"]["banner"]["visible"] and grid["cam2"]["weights"] == f"weights: {trained}"
    cam1_rect, cam2_rect = grid["cam1"]["canvas"]["screenRect"], grid["cam2"]["canvas"]["screenRect"]
    beside = cam1_rect[0] + cam1_rect[2] <= cam2_rect[0] and abs(cam1_rect[1] - cam2_rect[1]) < cam1_rect[3] / 2
    assert beside, f"tiles not side by side: {cam1_rect}, {cam2_rect}"

    # Selected: cam2 alone, twice as large, still drawing its own frames; cam1's tile is gone from the screen.
    selected = result["selected"]
    assert selected["name"] == "cam2" and result["topState"]["selected"] == "cam2"
    views = selected["views"]
    assert not views["cam1"]["visible"]
    _assert_view_draws_its_source(views["cam2"], source_frame_id("cam2"))
    assert views["cam2"]["state"]["framesDrawn"] >= grid["cam2"]["state"]["framesDrawn"] + 2
    assert views["cam2"]["canvas"]["screenRect"][2] == pytest.approx(2 * cam2_rect[2], abs=2)
    _assert_box_in_screenshot(cv2.imread(str(tmp_path / "grid-selected.png")), views["cam2"])


def test_launched_graph_serves_foxglove_and_the_page_by_default(clip_path: Path, tmp_path: Path) -> None:
    """`ros-detect launch video` (foxglove on by default) -> a Foxglove client and the page see the real graph."""
    ws_port, http_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "ros_detect.cli", "launch", "video", str(clip_path), "--loop", "--duration", "90"]
    cmd += [
        "--weights",
        "none",
        "--model",
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "--threads",
        "1",
        "--precision",
        "fp32",
    ]
    cmd += ["--proposals", "50", "--score-threshold", "0.3", "--no-mqtt"]  # few random-init boxes over the frame
    cmd += ["-p", f"foxglove_bridge.port={ws_port}", "-p", f"foxglove_bridge.http_port={http_port}"]
    log = tmp_path / "launch.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=ros_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(http_port, proc, timeout=120)
        client = FoxgloveTestClient.open(f"ws://127.0.0.1:{ws_port}")
        try:
            client.wait_for_channels(["/image", "/annotations", "/main_person", "/detections"])
            client.subscribe(["/image", "/annotations", "/main_person"])
            client.wait_for_data("/main_person", count=2, timeout=90)
            got = client.collect(6.0)
        finally:
            client.close()
        images = {client.decode(r).timestamp.ToNanoseconds() for r in got if r.topic == "/image"}
        mains = [client.decode(r) for r in got if r.topic == "/main_person"]
        annotations = {client.decode(r).timestamp.ToNanoseconds() for r in got if r.topic == "/annotations"}
        assert len(mains) >= 2, f"only {len(mains)} main_person documents in 6 s"
        for doc in mains:
            schema.validate(doc)
            assert doc["frame_id"] == clip_path.stem
        stamps = {schema.stamp_to_ns(d["stamp"]) for d in mains}
        # One annotation message per result, same stamp (the windows' edges may cut one pair).
        assert len(annotations - stamps) <= 1 and len(stamps - annotations) <= 1 and len(stamps & annotations) >= 1
        # ... and the frames with exactly those stamps (results of frames sent before the window don't count)
        in_window = {t for t in stamps if t >= min(images)}
        assert len(in_window) >= 2 and len(in_window & images) >= len(in_window) - 1

        result = open_page(f"http://127.0.0.1:{http_port}/", tmp_path / "real.png", min_frames=2, require_main=False)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    state = result["state"]
    assert state["errors"] == [] and result["consoleErrors"] == []
    shown = json.loads(result["mainJson"])
    schema.validate(shown)
    assert shown["frame_id"] == clip_path.stem and state["mainPersonReceived"] >= 1
    assert shown["weights"] == RANDOM_INIT_LABEL  # --weights none: every document says so, and the page too
    _assert_untrained_banner(result, cv2.imread(str(tmp_path / "real.png")))
    # The canvas holds a real clip frame: sky-ish top, grey road bottom (synthetic street), not a blank canvas.
    image = cv2.imread(str(tmp_path / "real.png"))
    left, top, width, height = (int(v) for v in result["canvas"]["screenRect"])
    canvas = image[top : top + height, left : left + width].astype(int)
    road = np.median(canvas[int(height * 0.85) : int(height * 0.95)].reshape(-1, 3), axis=0)
    assert np.abs(road - (90, 95, 100)).max() < 30, road
    assert canvas.std() > 15
    assert "Traceback" not in log.read_text()


def test_committed_bundle_is_built_from_the_current_source(tmp_path: Path) -> None:
    """ros_detect/web/app.js is a build output kept in git: it must match `npm run build` of web/src/app.js."""
    _require_browser_tools()
    build = json.loads((REPO / "web" / "package.json").read_text())["scripts"]["build"]
    out = tmp_path / "app.js"
    cmd = build.replace("--outfile=../ros_detect/web/app.js", f"--outfile={out}")
    proc = subprocess.run(f"npx --no-install {cmd}", shell=True, cwd=REPO / "web", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (REPO / "ros_detect" / "web" / "app.js").read_bytes(), "run `cd web && npm run build`"

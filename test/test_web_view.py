"""The zero-install page in a real headless Chromium (Debian `chromium`, driven by npm `playwright-core`).

The page is served by the real foxglove_bridge node and fed by the fake pipeline process; the test asserts on
what is drawn: the main-person box in green exactly where the main_person document puts it, over the frame
with that document's stamp, and the JSON panel showing that document.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.fake_pipeline import BACKGROUND_BGR, CHAIR_BOX, PERSON_BGR, person_box
from helpers.foxglove_graph import REPO, BridgeGraph

from ros_detect.core import schema

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


def open_page(url: str, screenshot: Path, min_frames: int = 5) -> dict:
    node = _require_browser_tools()
    proc = subprocess.run(
        [node, str(DRIVER), url, str(screenshot), str(min_frames), "40000"],
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


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    with BridgeGraph(rate=10.0, duration=60, log_dir=tmp_path_factory.mktemp("web_graph")) as g:
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
    left, top, width, _height = result["canvas"]["screenRect"]
    scale = width / result["canvas"]["width"]
    x1, y1, x2, y2 = drawn["mainBox"]
    ys = slice(int(top + (y1 + 30) * scale), int(top + (y2 - 10) * scale))
    column = image[ys, int(left + x1 * scale) - 3 : int(left + x1 * scale) + 4]
    green = (column[..., 1] > 200) & (column[..., 0] < 90) & (column[..., 2] < 90)
    assert green.any(axis=1).mean() > 0.95, "no green left edge of the main box in the screenshot"
    centre = image[int(top + (y1 + y2) / 2 * scale), int(left + (x1 + x2) / 2 * scale)].astype(int)
    assert np.abs(centre - PERSON_BGR).max() < 25

    # Latency: the page drew a frame well within a second of its capture.
    assert 0 <= state["displayLatencyMs"] < 1000
    assert "fps" in result["stats"]

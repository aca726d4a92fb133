"""The four output files of `ros-detect video`, written from the node graph's topics (`launch -o OUTDIR`).

Images, detections and main-person documents arrive on separate topics, in any order; they are joined on
the capture stamp. A frame is drawn once its main-person document, its image and its detections are all
there, in the order of the main-person documents (the video's frame order). Buffers are bounded: a frame
whose other parts never arrive is given up (drawn with what is there, or counted when its image is missing);
close() draws what is still waiting.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ros_detect.detection.weights import RANDOM_INIT_LABEL, UNTRAINED_BANNER
from ros_detect.media.draw import annotate
from ros_detect.media.sources import OUTPUT_SIZE
from ros_detect.media.writers import JsonlWriter, VideoFileWriter, prepare_output_dir
from ros_detect.schema import Detection, stamp_to_ns

STAGES = ("decode", "preprocess", "inference", "postprocess")


class GraphRecorder:
    """Writes detections.jsonl, main_person.jsonl and annotated.mp4 as documents arrive."""

    def __init__(self, out_dir: Path | str, fps: float, write_video: bool = True, buffer: int = 64) -> None:
        self.out = prepare_output_dir(out_dir)
        self.det_writer = JsonlWriter(self.out / "detections.jsonl")
        self.main_writer = JsonlWriter(self.out / "main_person.jsonl")
        self.video = VideoFileWriter(self.out / "annotated.mp4", fps, OUTPUT_SIZE) if write_video else None
        self.buffer = buffer
        self.images: OrderedDict[int, np.ndarray] = OrderedDict()
        self.dets: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.pending: OrderedDict[int, dict[str, Any]] = OrderedDict()  # main-person docs waiting to be drawn
        self.last_image_stamp = self.last_det_stamp = -1
        self.stage_ms: dict[str, list[float]] = {k: [] for k in (*STAGES, "main_person", "total")}
        self.present = 0
        self.frames_without_image = 0
        self.images_received = 0
        self.detections_received = 0
        self.frame_id: str | None = None
        self.first_doc_meta: dict[str, Any] | None = None
        self.t_first: float | None = None  # first frame seen: wall time excludes graph start-up and model load

    @property
    def main_person_received(self) -> int:
        return self.main_writer.lines

    def _bounded_put(self, store: OrderedDict, key: int, value: Any) -> None:
        store[key] = value
        while len(store) > self.buffer:
            store.popitem(last=False)

    def _started(self) -> None:
        if self.t_first is None:
            self.t_first = time.perf_counter()

    def on_image(self, stamp_ns: int, image: np.ndarray) -> None:
        self._started()
        self.images_received += 1
        if self.video is not None:
            self._bounded_put(self.images, stamp_ns, np.array(image))  # copy: the message buffer is reused
            self.last_image_stamp = max(self.last_image_stamp, stamp_ns)
            self._draw_ready()

    def on_detections(self, doc: dict[str, Any]) -> None:
        self._started()
        self.detections_received += 1
        self.det_writer.write(doc)
        self.frame_id = doc.get("frame_id")
        if self.first_doc_meta is None:
            self.first_doc_meta = {k: doc.get(k) for k in ("model", "precision", "weights")}
        for key in STAGES:
            if key in doc.get("timing_ms", {}):
                self.stage_ms[key].append(float(doc["timing_ms"][key]))
        self._bounded_put(self.dets, stamp_to_ns(doc["stamp"]), doc)
        self.last_det_stamp = max(self.last_det_stamp, stamp_to_ns(doc["stamp"]))
        if self.video is not None:
            self._draw_ready()

    def on_main_person(self, doc: dict[str, Any]) -> None:
        self.main_writer.write(doc)
        self.present += bool(doc.get("present"))
        latency = doc.get("latency_ms") or {}
        if "capture_to_main_person" in latency:
            self.stage_ms["total"].append(float(latency["capture_to_main_person"]))
            if "capture_to_detection" in latency:
                # main_person stage as seen from outside: selection plus one hop of transport
                self.stage_ms["main_person"].append(
                    float(latency["capture_to_main_person"]) - float(latency["capture_to_detection"])
                )
        if self.video is not None:
            self.pending[stamp_to_ns(doc["stamp"])] = doc
            self._draw_ready()
        else:
            self.dets.pop(stamp_to_ns(doc["stamp"]), None)

    def _draw_ready(self, final: bool = False) -> None:
        """Draw waiting frames in order while their parts are there; give up the oldest beyond the bound."""
        while self.pending:
            stamp, doc = next(iter(self.pending.items()))
            # each stream comes in stamp order from one publisher: a newer stamp there means this one is lost
            image_known = stamp in self.images or self.last_image_stamp > stamp
            det_known = stamp in self.dets or self.last_det_stamp > stamp
            if not ((image_known and det_known) or final or len(self.pending) > self.buffer):
                return
            del self.pending[stamp]
            image, det_doc = self.images.pop(stamp, None), self.dets.pop(stamp, None)
            if image is None:
                self.frames_without_image += 1
                continue
            detections = [Detection.from_dict(d) for d in det_doc["detections"]] if det_doc else []
            banner = UNTRAINED_BANNER if (det_doc or {}).get("weights") == RANDOM_INIT_LABEL else None
            self.video.write(annotate(image, detections, doc, banner))

    def files(self) -> list[str]:
        return ["main_person.jsonl", "detections.jsonl", *(["annotated.mp4"] if self.video else []), "summary.json"]

    def close(self) -> None:
        if self.video is not None:
            self._draw_ready(final=True)
        self.det_writer.close()
        self.main_writer.close()
        if self.video is not None:
            self.video.close()

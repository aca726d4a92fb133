"""Offline video job: every frame -> detections -> main person -> JSONL, annotated MP4, summary.

Decoding and resizing run in a thread that feeds a bounded queue, so they overlap with
inference while memory stays flat on long videos.
"""

from __future__ import annotations

import logging
import platform
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from ros_detect.detection.detector import Detector, DetectorConfig, freeze_heap
from ros_detect.detection.weights import UNTRAINED_BANNER
from ros_detect.errors import InputError
from ros_detect.media.draw import annotate
from ros_detect.media.sources import OUTPUT_SIZE, Frame, VideoSource, source_id
from ros_detect.media.writers import JsonlWriter, VideoFileWriter, prepare_output_dir, write_json
from ros_detect.percentiles import percentiles
from ros_detect.pipeline.stages import detect_frame, select_main_person
from ros_detect.selection.main_person import MainPersonConfig, MainPersonSelector

log = logging.getLogger(__name__)
_END = object()


@dataclass
class VideoJob:
    input: str
    output_dir: Path
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    main_person: MainPersonConfig = field(default_factory=MainPersonConfig)
    aspect: str = "pad"
    start_frame: int = 0
    stop_frame: int | None = None
    queue_size: int = 8  # decoded frames waiting for the detector
    write_video: bool = True
    progress: bool = True
    input_kind: str = "user"  # user | downloaded | synthetic
    freeze_heap: bool = False  # a process running one job: exempt the model from garbage collection


class _Decoder(threading.Thread):
    def __init__(self, source: VideoSource, frames: queue.Queue) -> None:
        super().__init__(name="decoder", daemon=True)
        self.source, self.frames = source, frames
        self.error: BaseException | None = None
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            for frame in self.source:
                while not self.stop_event.is_set():
                    try:
                        self.frames.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self.stop_event.is_set():
                    return
        except BaseException as exc:
            self.error = exc
        finally:
            self.frames.put(_END)


def run_video(job: VideoJob) -> dict[str, Any]:
    """Process every frame of `job.input`; return (and write) the summary."""
    out = prepare_output_dir(job.output_dir)
    source = VideoSource(job.input, OUTPUT_SIZE, job.aspect, job.start_frame, job.stop_frame)
    if source.expected_frames == 0:
        source.close()
        raise InputError(f"input {job.input} has zero frames", "pass a video with at least one frame")
    frame_id = source_id(job.input)
    cv2.setNumThreads(1)  # decode/resize of one frame is ~3 ms; OpenCV's pool would only fight torch
    detector = Detector(job.detector)
    if job.freeze_heap:
        freeze_heap()
    selector = MainPersonSelector(job.main_person)
    banner = None if detector.trained else UNTRAINED_BANNER

    frames: queue.Queue = queue.Queue(maxsize=job.queue_size)
    decoder = _Decoder(source, frames)
    det_writer = JsonlWriter(out / "detections.jsonl")
    main_writer = JsonlWriter(out / "main_person.jsonl")
    video = VideoFileWriter(out / "annotated.mp4", source.fps, OUTPUT_SIZE) if job.write_video else None
    stage_ms: dict[str, list[float]] = {
        k: [] for k in ("decode", "preprocess", "inference", "postprocess", "main_person", "total")
    }
    present = 0
    status = "error"
    t_start = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    decoder.start()
    bar = tqdm(
        total=source.expected_frames, unit="frame", desc="ros-detect", disable=not job.progress, dynamic_ncols=True
    )
    try:
        while True:
            frame: Frame | object = frames.get()
            if frame is _END:
                break
            t0 = time.perf_counter()
            det_doc, detections = detect_frame(detector, frame, frame_id)
            done_ns = time.time_ns()
            t1 = time.perf_counter()
            main_doc = select_main_person(selector, det_doc, detections, done_ns)
            t2 = time.perf_counter()
            det_writer.write(det_doc)
            main_writer.write(main_doc)
            if video is not None:
                video.write(annotate(frame.image, detections, main_doc, banner))
            for key in ("decode", "preprocess", "inference", "postprocess"):
                stage_ms[key].append(det_doc["timing_ms"][key])
            stage_ms["main_person"].append((t2 - t1) * 1e3)
            stage_ms["total"].append(frame.decode_ms + (t2 - t0) * 1e3)
            present += main_doc["present"]
            bar.update(1)
        if decoder.error is not None:
            raise decoder.error
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        bar.close()
        decoder.stop_event.set()
        det_writer.close()
        main_writer.close()
        if video is not None:
            video.close()
        source.close()
        wall = time.perf_counter() - t_start
        processed = main_writer.lines
        expected = source.expected_frames
        truncated = source.trailing_failures > 0 or (
            expected is not None and processed + source.failed_frames < expected
        )
        if status == "complete" and processed == 0:
            status = "error"
        elif status == "complete" and source.is_live:
            status = "stream-ended"  # a live source has no natural end
        summary = build_summary(
            status=status,
            input=str(job.input),
            input_kind=job.input_kind,
            frame_id=frame_id,
            source=source,
            aspect=job.aspect,
            processed=processed,
            truncated=truncated,
            present=present,
            wall_s=wall,
            stage_ms=stage_ms,
            detector=detector_info(detector),
            main_person_config=job.main_person.as_dict(),
            detector_config=asdict(job.detector),
            started_at=started_at,
            files=["main_person.jsonl", "detections.jsonl", *(["annotated.mp4"] if video else []), "summary.json"],
        )
        write_json(out / "summary.json", summary)
    if processed == 0:
        raise InputError(
            f"no frame of {job.input} could be decoded", "check the file plays (e.g. with ffplay) or re-encode it"
        )
    if status == "stream-ended":
        raise InputError(
            f"stream {job.input} stopped after {processed} frames; they are in {out}",
            "check the camera or stream server, then run again (use `ros-detect launch webcam` to reconnect)",
        )
    if truncated:
        last_good = job.start_frame + processed + source.failed_frames - source.trailing_failures - 1
        raise InputError(
            f"{job.input} stopped decoding after frame {last_good} of {expected} (truncated or corrupt); "
            f"the {processed} processed frames are in {out}",
            "re-encode or re-download the video",
        )
    return summary


def detector_info(detector: Detector) -> dict[str, Any]:
    """The summary fields that describe the detector that produced the results."""
    return {
        "model": detector.model_name,
        "precision": detector.precision,
        "weights": detector.weights_label,
        "weights_trained": detector.trained,
        "device": detector.device,
        "proposals": detector.spec.proposals,
        "model_load_s": round(detector.load_time_s, 3),
    }


def build_summary(
    *,
    status: str,
    input: str,
    input_kind: str,
    frame_id: str,
    source: VideoSource,
    aspect: str,
    processed: int,
    truncated: bool,
    present: int,
    wall_s: float,
    stage_ms: dict[str, list[float]],
    detector: dict[str, Any],
    main_person_config: dict[str, Any],
    detector_config: dict[str, Any],
    started_at: str,
    files: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """summary.json, shared by `ros-detect video` and `ros-detect launch video -o` (same format)."""
    expected = source.expected_frames
    summary = {
        "status": status,
        "input": input,
        "input_kind": input_kind,
        "frame_id": frame_id,
        "source_size": list(source.source_size),
        "source_fps": source.fps,
        "output_size": list(OUTPUT_SIZE),
        "aspect": aspect,
        "frames_expected": expected,
        "frames_processed": processed,
        "frames_failed_to_decode": source.failed_frames,
        "truncated": truncated,
        "frames_with_main_person": present,
        "wall_time_s": round(wall_s, 3),
        "fps": round(processed / wall_s, 3) if wall_s > 0 else None,
        "latency_ms": {k: percentiles(v) for k, v in stage_ms.items()},
        "model": detector["model"],
        "precision": detector["precision"],
        "weights": detector["weights"],
        "weights_trained": detector["weights_trained"],
        "warning": None
        if detector["weights_trained"]
        else "Untrained (random-initialised) weights: these are NOT real detections.",
        "device": detector["device"],
        "proposals": detector["proposals"],
        "model_load_s": detector["model_load_s"],
        "main_person_config": main_person_config,
        "detector_config": detector_config,
        "started_at": started_at,
        "machine": f"{platform.machine()} {platform.processor() or ''} {_cpu_count()} cpu".strip(),
        "files": files,
    }
    if extra:
        summary.update(extra)
    return summary


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

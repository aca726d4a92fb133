"""`ros-detect launch video|webcam`: the launch files' graph from the rclpy wheels, without ros2 launch.

Reads the same config/<mode>.yaml as launch/<mode>.launch.py and starts the same nodes, either as one
process per node (default, like ros2 launch: measured faster, see README "ROS 2 graph") or all in this
process on one MultiThreadedExecutor (`--processes one`). With -o OUTDIR it also writes the
four files of `ros-detect video` from the graph's topics.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ros_detect.commands.common import add_detector_arguments
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.errors import ConfigError, InputError
from ros_detect.graph.params import dump_param_file, parse_override
from ros_detect.graph.plan import MODES, GraphSpec, plan_graph
from ros_detect.media.sources import ASPECT_MODES, VideoSource, source_id

log = logging.getLogger(__name__)
DETECTOR_OPTIONS = ("weights", "model", "precision", "device", "threads", "proposals", "score_threshold")
DRAIN_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0  # per node process, then SIGKILL
STOP_SETTLE_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=sorted(MODES), help="video: every frame of a file; webcam: live, latest wins")
    parser.add_argument("input", nargs="?", help="video file (video) or camera index / device / stream URL (webcam)")
    parser.add_argument(
        "--source", dest="source_opt", metavar="INPUT", help="same as INPUT (webcam: --source http://host/stream)"
    )
    parser.add_argument("-o", "--output", help="also write main_person.jsonl, detections.jsonl, annotated.mp4, summary")
    parser.add_argument("--config", action="append", type=Path, help="parameter file(s) (default config/<mode>.yaml)")
    parser.add_argument("--namespace", default="", help="ROS namespace for every node (moves the whole graph)")
    parser.add_argument(
        "--processes",
        choices=("one", "multi"),
        default="multi",
        help="multi: one process per node (default, faster: no shared GIL); one: all nodes in this process",
    )
    parser.add_argument("--mqtt", action=argparse.BooleanOptionalAction, default=None, help="start mqtt_bridge")
    parser.add_argument("--foxglove", action=argparse.BooleanOptionalAction, default=None, help="start foxglove_bridge")
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE", help="override one parameter"
    )
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = run to end)")
    parser.add_argument("--aspect", choices=ASPECT_MODES, help="fit to 427x240 by padding, cropping or stretching")
    parser.add_argument("--start-frame", type=int)
    parser.add_argument("--stop-frame", type=int)
    parser.add_argument("--rate", type=float, help="video: 0 = as fast as the detector, 1 = real time")
    parser.add_argument("--loop", action="store_true", help="video: restart at the end (runs until stopped)")
    parser.add_argument("--no-video", action="store_true", help="with -o: skip annotated.mp4")
    add_detector_arguments(parser)
    # None = "not given": the parameter file decides; an option given on the command line wins.
    parser.set_defaults(**dict.fromkeys(DETECTOR_OPTIONS))


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    src = MODES[args.mode].source
    out: dict[str, dict[str, Any]] = {}
    for text in args.param:
        node, name, value = parse_override(text)
        out.setdefault(node, {})[name] = value
    given = args.input or args.source_opt
    if given:
        out.setdefault(src, {})["input"] = given
    for opt, node, name in (
        ("aspect", src, "aspect"),
        ("start_frame", src, "start_frame"),
        ("stop_frame", src, "stop_frame"),
        ("rate", src, "rate"),
    ):
        value = getattr(args, opt, None)
        if value is not None:
            out.setdefault(node, {})[name] = value
    if args.loop:
        out.setdefault(src, {})["loop"] = True
    for opt in DETECTOR_OPTIONS:
        value = getattr(args, opt)
        if value is not None:
            out.setdefault("detector", {})[opt] = value
    if args.score_threshold is not None:
        out.setdefault("main_person", {}).setdefault("min_score", min(0.5, args.score_threshold))
    return out


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    importlib.import_module("ros_detect.nodes.messages")  # not built: problem + fix before any node starts
    spec = plan_graph(
        args.mode,
        config_files=args.config,
        overrides=_overrides(args),
        namespace=args.namespace,
        bridges={"mqtt": args.mqtt, "foxglove": args.foxglove},
    )
    source = spec.nodes[0]
    if args.mode == "video" and not source.params.get("input"):
        raise InputError("no input video", "pass one: ros-detect launch video INPUT (or -p video_source.input=...)")
    if args.mode == "video" and args.loop and not args.duration:
        log.info("--loop without --duration runs until Ctrl-C")
    for line in spec.skipped:
        print(f"warning: {line}", file=sys.stderr)
    print(
        f"ros-detect launch {args.mode}: nodes {[n.name for n in spec.nodes]} in "
        f"{'one process' if args.processes == 'one' else 'one process per node'}"
        f"{' under /' + spec.namespace if spec.namespace else ''}; "
        f"parameters from {[str(f) for f in spec.config_files]}"
    )
    runner = GraphRunner(spec, args)
    return runner.run()


class GraphRunner:
    def __init__(self, spec: GraphSpec, args: argparse.Namespace) -> None:
        self.spec = spec
        self.args = args
        self.src = spec.nodes[0]
        self.recorder = None
        self.meta: Any = None
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.stop_reason = "complete"
        self.param_dir: Path | None = None  # multi-process parameter file (may hold the MQTT password)

    # -- outputs ------------------------------------------------------------------------------------
    def _make_recorder(self) -> Any:
        if not self.args.output:
            return None
        from ros_detect.pipeline.recorder import GraphRecorder

        fps = 30.0
        if self.spec.mode == "video":
            p = self.src.params
            stop = p.get("stop_frame", -1)
            with VideoSource(
                p["input"], aspect=p.get("aspect", "pad"), start_frame=p.get("start_frame", 0),
                stop_frame=None if stop is None or stop < 0 else stop,
            ) as meta:  # fmt: skip
                self.meta = SimpleNamespace(
                    expected_frames=meta.expected_frames, source_size=meta.source_size, fps=meta.fps, failed_frames=0
                )
                fps = meta.fps
        else:
            self.meta = SimpleNamespace(expected_frames=None, source_size=(0, 0), fps=fps, failed_frames=0)
        return GraphRecorder(self.args.output, fps, write_video=not self.args.no_video)

    def _summary(self, outputs: Any, wall_s: float, detector_node: Any) -> dict[str, Any]:
        from ros_detect.media.writers import write_json
        from ros_detect.pipeline.video_job import build_summary, detector_info

        rec = self.recorder
        src_stats = outputs.source_stats() or {}
        counters = src_stats.get("counters", {})
        self.meta.failed_frames = int(counters.get("decode_failures", 0))
        det_params = self.spec.node("detector").params
        if detector_node is not None:
            det = detector_info(detector_node.detector)
        else:
            meta = rec.first_doc_meta or {}
            det = {
                "model": meta.get("model", det_params.get("model")),
                "precision": meta.get("precision", det_params.get("precision")),
                "weights": meta.get("weights", det_params.get("weights")),
                "weights_trained": meta.get("weights") not in (None, RANDOM_INIT_LABEL),
                "device": det_params.get("device", "auto"),
                "proposals": det_params.get("proposals"),
                "model_load_s": None,
            }
        processed = rec.main_person_received
        published = int(counters.get("published", 0))
        status = self.stop_reason
        truncated = False
        if self.spec.mode == "video" and status == "complete":
            expected = self.meta.expected_frames
            truncated = expected is not None and processed + self.meta.failed_frames < expected
        input_spec = str(self.src.params.get("input"))
        summary = build_summary(
            status=status,
            input=input_spec,
            input_kind="user",
            frame_id=rec.frame_id or self.src.params.get("source_id") or source_id(input_spec),
            source=self.meta,
            aspect=self.src.params.get("aspect", "pad"),
            processed=processed,
            truncated=truncated,
            present=rec.present,
            wall_s=wall_s,
            stage_ms=rec.stage_ms,
            detector=det,
            main_person_config={k: v for k, v in self.spec.node("main_person").params.items() if "topic" not in k},
            detector_config=det_params,
            started_at=self.started_at,
            files=rec.files(),
            extra={
                "graph": {
                    "mode": self.spec.mode,
                    "processes": self.args.processes,
                    "namespace": self.spec.namespace,
                    "nodes": [n.name for n in self.spec.nodes],
                    "skipped": self.spec.skipped,
                    "frames_published": published,
                    "images_received": rec.images_received,
                    "detections_messages": rec.detections_received,
                    "main_person_messages": processed,
                    "frames_dropped": int(src_stats.get("dropped", 0)),
                    "frames_without_image": rec.frames_without_image,
                    "source_stats": src_stats or None,
                }
            },
        )
        write_json(rec.out / "summary.json", summary)
        return summary

    # -- running ------------------------------------------------------------------------------------
    def run(self) -> int:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from ros_detect.nodes.common import (
            close_node,
            install_stop_handlers,
            limit_opencv_threads,
            raise_if_failed,
        )
        from ros_detect.nodes.common_outputs import OutputsNode

        limit_opencv_threads()
        self.recorder = self._make_recorder()
        ctx = Context()
        # our own Ctrl-C/SIGTERM handling: rclpy's would shut the context down at once, and the recorder
        # could no longer take in the final stats the node processes send as they stop
        rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
        stop = install_stop_handlers(second=_raise_keyboard_interrupt)
        executor = MultiThreadedExecutor(num_threads=len(self.spec.nodes) + 2, context=ctx)
        nodes: list[Any] = []
        outputs = None
        procs: list[subprocess.Popen] = []
        detector_node = None
        t0 = time.perf_counter()
        summary = None
        try:
            if self.recorder is not None:
                reliability = "best_effort" if self.spec.mode == "webcam" else "reliable"
                outputs = OutputsNode(self.recorder, reliability, namespace=self.spec.namespace, context=ctx)
                executor.add_node(outputs)
            if self.args.processes == "one":
                # sinks first, source last: the source waits for its subscribers anyway
                for spec in reversed(self.spec.nodes):
                    node = self._construct(spec, ctx)
                    nodes.append(node)
                    executor.add_node(node)
                    if spec.name == "detector":
                        detector_node = node
                source_node = nodes[-1]
                finished = lambda: source_node.done_future.done() if hasattr(source_node, "done_future") else False  # noqa: E731
            else:
                procs = self._spawn()
                finished = lambda: procs[0].poll() is not None  # noqa: E731
            deadline = time.monotonic() + self.args.duration if self.args.duration > 0 else None
            while ctx.ok() and not stop.is_set():
                executor.spin_once(timeout_sec=0.1)
                if finished():
                    break
                for node in nodes:  # a node's fatal error (the detector's, say) ends the graph with its message
                    raise_if_failed(node)
                for spec, proc in zip(self.spec.nodes[1:], procs[1:], strict=False):
                    if proc.poll() is not None:
                        raise ConfigError(
                            f"node {spec.name} exited early (code {proc.returncode})", "see its error above"
                        )
                if deadline is not None and time.monotonic() > deadline:
                    self.stop_reason = "complete" if self.spec.mode == "webcam" else "stopped"
                    break
            if stop.is_set() or not ctx.ok():  # Ctrl-C / SIGTERM
                raise ExternalShutdownException()
            if procs and procs[0].poll() not in (None, 0):
                raise ConfigError(f"{self.src.name} exited with code {procs[0].returncode}", "see its error above")
            self._drain(executor, outputs)
        except (KeyboardInterrupt, ExternalShutdownException):
            # a live graph normally ends with Ctrl-C/SIGTERM; a video stopped early is "interrupted"
            self.stop_reason = "complete" if self.spec.mode == "webcam" else "interrupted"
        finally:
            t_end = time.perf_counter()
            wall = t_end - t0
            self._stop_procs(procs, executor if outputs is not None and ctx.ok() else None)
            if self.param_dir is not None:  # never leave a copy of the parameters (passwords) in /tmp
                shutil.rmtree(self.param_dir, ignore_errors=True)
            executor.shutdown(timeout_sec=2.0)  # running callbacks finish before their nodes are destroyed
            if nodes and outputs is not None and hasattr(nodes[-1], "stats"):
                # the source's counters now, not its last 1 Hz stats message (in one process we can ask)
                outputs.last_stats[nodes[-1].get_fully_qualified_name()] = nodes[-1].stats.current()
            for node in nodes:
                close_node(node)
            if self.recorder is not None:
                self.recorder.close()
                if self.recorder.t_first is not None:  # like `ros-detect video`: from the first frame, not start-up
                    wall = t_end - self.recorder.t_first
                summary = self._summary(outputs, wall, detector_node)
            if outputs is not None:
                outputs.destroy_node()
            if ctx.ok():
                rclpy.shutdown(context=ctx)
        if summary is not None:
            self._report(summary)
        return 130 if self.stop_reason == "interrupted" else 0

    def _construct(self, spec: Any, ctx: Any) -> Any:
        from rclpy.parameter import Parameter

        cls = getattr(importlib.import_module(spec.module), spec.class_name)
        overrides = [Parameter(k, value=v) for k, v in spec.params.items()]
        return cls(namespace=self.spec.namespace or None, parameter_overrides=overrides, context=ctx)

    def _spawn(self) -> list[subprocess.Popen]:
        tmp = self.param_dir = Path(tempfile.mkdtemp(prefix="ros-detect-launch-"))  # mode 0700
        params_file = dump_param_file(tmp / "params.yaml", {n.name: n.params for n in self.spec.nodes})
        procs = []
        for spec in self.spec.nodes:  # source first: main() exits when it finishes
            cmd = [sys.executable, "-c", f"import sys; from {spec.module} import main; sys.exit(main())"]
            cmd += ["--ros-args", "--params-file", str(params_file)]
            if self.spec.namespace:
                cmd += ["-r", f"__ns:=/{self.spec.namespace}"]
            procs.append(subprocess.Popen(cmd, env=os.environ.copy()))
        return procs

    def _drain(self, executor: Any, outputs: Any) -> None:
        """After the source finished, take in the results still on the wire (bounded wait)."""
        if outputs is None or self.recorder is None:
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            stats = outputs.source_stats() or {}
            published = int(stats.get("counters", {}).get("published", -1))
            if stats.get("state") == "finished" and self.recorder.main_person_received >= published:
                return
            if self.spec.mode == "webcam" or self.stop_reason != "complete":
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    executor.spin_once(timeout_sec=0.05)
                return
            executor.spin_once(timeout_sec=0.05)

    @staticmethod
    def _stop_procs(procs: list[subprocess.Popen], executor: Any = None) -> None:
        """Stop the node processes one by one in graph order (source first), taking in what they still send.

        A frame already in the detector then still reaches main_person and the recorder, so the counts of
        `detections` and `main_person` messages agree; each node sends its final stats on the way out.
        """

        def wait(seconds: float, until: Any = lambda: False) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end and not until():
                if executor is not None:
                    executor.spin_once(timeout_sec=0.05)
                else:
                    time.sleep(0.05)

        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                wait(STOP_TIMEOUT_S, until=lambda p=proc: p.poll() is not None)
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            wait(STOP_SETTLE_S)  # its last messages reach the next node before that one is stopped

    def _report(self, summary: dict[str, Any]) -> None:
        g = summary["graph"]
        fps = summary["fps"] or 0.0
        print(
            f"{g['frames_published']} frames published, {g['detections_messages']} detections, "
            f"{g['main_person_messages']} main_person messages in {summary['wall_time_s']:.1f} s = {fps:.2f} fps "
            f"({summary['status']}); main person in {summary['frames_with_main_person']} frames; "
            f"weights: {summary['weights']}"
        )
        if summary["warning"]:
            print(f"WARNING: {summary['warning']}")
        print(f"outputs in {Path(self.args.output).resolve()}: {summary['files']}")

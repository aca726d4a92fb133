"""`ros-detect launch video|webcam`: the launch files' graph from the rclpy wheels, without ros2 launch.

Runs the plan launch/<mode>.launch.py runs (ros_detect/graph/plan.py: same nodes, same parameter files,
same meaning of a node's exit), either as one process per node (default, like ros2 launch: measured
faster, see README "ROS 2 graph") or all in this process on one MultiThreadedExecutor (`--processes one`).
With -o OUTDIR it also writes the four files of `ros-detect video` from the graph's topics. `launch webcam URL1
URL2` runs several cameras, each in its own namespace, on one detector (plan.py "several cameras").

Failure policy (ros_detect/graph/plan.py `node_exit_outcome`): a pipeline node that fails stops the graph
(exit 2); a sink (bridge) that fails ends alone, the pipeline runs on, and the launch exits 3 when it stops.
DDS stays on this machine unless the user opts into a multi-host graph (ros_detect/graph/network.py).

Order matters for complete results: the sinks start first and the source only once this launcher's
subscriptions and every bridge are matched, so nothing published is missed; on a stop the nodes go in
graph order (source, detector, main_person, bridges) and main_person answers every detection first.
With --nodes/--without it starts only this host's part of a graph spread over hosts on DDS (docs/multi-host.md).
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

from ros_detect.commands.common import DETECTOR_OPTIONS, add_detector_arguments, param_overrides
from ros_detect.detection.weights import RANDOM_INIT_LABEL
from ros_detect.errors import ConfigError, InputError, RosDetectError, print_problem
from ros_detect.graph import cpu
from ros_detect.graph.network import NETWORK_CHOICES, discovery_choice
from ros_detect.graph.params import dump_param_file
from ros_detect.graph.plan import (
    IMAGE_CONSUMERS,
    MODES,
    SINK_FAILED_EXIT,
    SINKS,
    GraphSpec,
    parse_inputs,
    plan_graph,
    sink_failure_problem,
    split_names,
)
from ros_detect.media.sources import ASPECT_MODES, VideoSource, source_id
from ros_detect.schema import stamp_to_ns

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0  # longest wait for results still on the wire (end of a video, a stop)
STOP_TIMEOUT_S = 10.0  # per node process, then SIGKILL
GRAPH_UP_TIMEOUT_S = 120.0  # sinks up and matched before the source starts (video: wait_for_graph_s)
PROGRESS_EVERY_S = 15.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=sorted(MODES), help="video: every frame of a file; webcam: live, latest wins")
    parser.add_argument(
        "input",
        nargs="*",
        help="video file (video) or camera index / device / stream URL (webcam); webcam: several (URL1 URL2, or "
        "door=URL1 yard=URL2) run one detector for all, each camera in its own namespace cam1, cam2, ...",
    )
    parser.add_argument(
        "--source", dest="source_opt", metavar="INPUT", help="same as INPUT (webcam: --source http://host/stream)"
    )
    parser.add_argument("-o", "--output", help="also write main_person.jsonl, detections.jsonl, annotated.mp4, summary")
    parser.add_argument(
        "--config",
        action="append",
        type=Path,
        help="your parameter file(s), loaded after config/common.yaml and config/<mode>.yaml (later wins)",
    )
    parser.add_argument("--namespace", default="", help="ROS namespace for every node (moves the whole graph)")
    parser.add_argument(
        "--network",
        choices=sorted(NETWORK_CHOICES),
        help="DDS discovery: localhost (default unless ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_STATIC_PEERS are set: "
        "the graph stays on this machine) or subnet (a multi-host graph; docs/reliability-security.md)",
    )
    parser.add_argument(
        "--processes",
        choices=("one", "multi"),
        default="multi",
        help="multi: one process per node (default, faster: no shared GIL); one: all nodes in this process",
    )
    parser.add_argument("--mqtt", action=argparse.BooleanOptionalAction, default=None, help="start mqtt_bridge")
    parser.add_argument("--foxglove", action=argparse.BooleanOptionalAction, default=None, help="start foxglove_bridge")
    parser.add_argument(
        "--nodes",
        action="append",
        metavar="NODE[,NODE]",
        help="start only these nodes here (another host runs the rest)",
    )
    parser.add_argument(
        "--without", action="append", metavar="NODE[,NODE]", help="start every node but these (another host runs them)"
    )
    parser.add_argument(
        "-p", "--param", action="append", default=[], metavar="NODE.NAME=VALUE", help="override one parameter"
    )
    parser.add_argument(
        "--duration", type=float, default=0.0, help="stop this many seconds after the source starts (0 = run to end)"
    )
    parser.add_argument(
        "--min-results",
        type=int,
        default=0,
        metavar="N",
        help="with --duration: keep running past it until N main_person results arrived (a model still loading "
        "on a busy machine does not end a timed run empty)",
    )
    parser.add_argument("--aspect", choices=ASPECT_MODES, help="fit to 427x240 by padding, cropping or stretching")
    parser.add_argument("--start-frame", type=int, help="video: first frame index")
    parser.add_argument("--stop-frame", type=int, help="video: stop before this frame index")
    parser.add_argument("--rate", type=float, help="video: 0 = as fast as the detector, 1 = real time")
    parser.add_argument("--loop", action="store_true", help="video: restart at the end (runs until stopped)")
    parser.add_argument("--no-video", action="store_true", help="with -o: skip annotated.mp4")
    add_detector_arguments(parser)
    # None = "not given": the parameter file decides; an option given on the command line wins.
    parser.set_defaults(**dict.fromkeys(DETECTOR_OPTIONS))


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    src = MODES[args.mode].source
    out = param_overrides(args, src, ("aspect", "start_frame", "stop_frame", "rate"))
    if args.loop:
        out.setdefault(src, {})["loop"] = True
    return out


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    importlib.import_module("ros_detect.nodes.messages")  # not built: problem + fix before any node starts
    inputs = list(args.input or [])
    sources = parse_inputs(inputs) if len(inputs) > 1 else []
    args.input = None if sources or not inputs else inputs[0]
    if sources and args.output:
        raise ConfigError(
            "-o records the files of one camera", "run several cameras without -o (their results are on MQTT)"
        )
    spec = plan_graph(
        args.mode,
        config_files=args.config,
        overrides=_overrides(args),
        namespace=args.namespace,
        bridges={"mqtt": args.mqtt, "foxglove": args.foxglove},
        recorder_images=bool(args.output) and not args.no_video,
        only=split_names(args.nodes),
        without=split_names(args.without),
        sources=sources,
    )
    source = spec.source
    if args.mode == "video" and source.name not in spec.elsewhere and not source.params.get("input"):
        raise InputError("no input video", "pass one: ros-detect launch video INPUT (or -p video_source.input=...)")
    if args.mode == "video" and args.loop and not args.duration:
        log.info("--loop without --duration runs until Ctrl-C")
    for line in spec.skipped:
        print(f"warning: {line}", file=sys.stderr)
    discovery = discovery_choice(os.environ, args.network or "")
    os.environ.update(discovery.env)  # before rclpy.init here and before any node process starts
    print(discovery.message)
    cameras = f"; {len(sources)} cameras, one detector: {[f'{s.name}={s.input}' for s in sources]}" if sources else ""
    print(
        f"ros-detect launch {args.mode}{cameras}: nodes {[n.fqn.lstrip('/') for n in spec.here]} in "
        f"{'one process' if args.processes == 'one' else 'one process per node'}"
        f"{' under /' + spec.namespace if spec.namespace else ''}; "
        f"{f'{spec.elsewhere} on other hosts; ' if spec.elsewhere else ''}"
        f"parameters from {[str(f) for f in spec.config_files]}"
    )
    runner = GraphRunner(spec, args)
    return runner.run()


class GraphRunner:
    def __init__(self, spec: GraphSpec, args: argparse.Namespace) -> None:
        self.spec = spec
        self.args = args
        self.src = spec.source
        self.src_here = self.src.name not in spec.elsewhere
        self.recorder = None
        self.meta: Any = None
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.stop_reason = "complete"
        self.param_dir: Path | None = None  # multi-process parameter file (may hold the MQTT password)
        self.params_file: Path | None = None
        self.ctx: Any = None
        self.executor: Any = None
        self.outputs: Any = None
        # started nodes in graph order: (spec, node object in this process | node process)
        self.running: list[tuple[Any, Any]] = []
        self.failed_sinks: list[str] = []  # sinks that failed while the pipeline ran on
        self.cpu_start: Any = None  # CPU of every node process once the first result is in (graph/cpu.py)
        self.cpu_usage: dict[str, Any] | None = None

    # -- outputs ------------------------------------------------------------------------------------
    def _make_recorder(self) -> Any:
        if not self.args.output:
            return None
        from ros_detect.pipeline.recorder import GraphRecorder

        fps = 30.0
        if self.spec.mode == "video" and self.src_here:  # a source on another host: its file is not here
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
        model = getattr(detector_node, "detector", None)  # None: stopped before its model was built (lifecycle)
        if model is not None:
            det = detector_info(model)
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
            frame_id=rec.frame_id or self.src.params.get("source_id") or source_id(input_spec, self.spec.namespace),
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
                    "nodes": [n.name for n in self.spec.here],
                    "elsewhere": self.spec.elsewhere,  # nodes of this graph on other hosts
                    "skipped": self.spec.skipped,
                    "failed_sinks": self.failed_sinks,
                    "frames_published": published,
                    "images_received": rec.images_received,
                    "detections_messages": rec.detections_received,
                    "main_person_messages": processed,
                    "frames_dropped": int(src_stats.get("dropped", 0)),
                    "frames_without_image": rec.frames_without_image,
                    "source_stats": src_stats or None,
                    # CPU ms per result of each node process from the first result on (one process: all in
                    # "launcher"); with the cores they kept busy
                    "cpu": self.cpu_usage,
                }
            },
        )
        write_json(rec.out / "summary.json", summary)
        return summary

    # -- running ------------------------------------------------------------------------------------
    def run(self) -> int:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from ros_detect.nodes.common import install_stop_handlers, limit_opencv_threads
        from ros_detect.nodes.common_outputs import OutputsNode

        limit_opencv_threads()
        self.recorder = self._make_recorder()
        self.ctx = ctx = Context()
        # our own Ctrl-C/SIGTERM handling: rclpy's would shut the context down at once, and the graph could
        # no longer be stopped in order, nor the final results and stats taken in
        rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
        stop = install_stop_handlers(second=_raise_keyboard_interrupt)
        if self._in_process():  # every node here: a busy callback of one must not hold the others up
            self.executor = executor = MultiThreadedExecutor(num_threads=len(self.spec.nodes) + 2, context=ctx)
        else:  # only the result recorder here: one thread costs half the CPU per result (3 vs 6-8 ms measured)
            self.executor = executor = SingleThreadedExecutor(context=ctx)
        t0 = time.perf_counter()
        summary = None
        failure: RosDetectError | None = None
        try:
            reliability = "best_effort" if self.spec.mode == "webcam" else "reliable"
            # several cameras: it follows the first camera's results (the others' bridges match by name)
            self.outputs = OutputsNode(self.recorder, reliability, namespace=self.src.namespace, context=ctx)
            executor.add_node(self.outputs)
            sources = [n for n in self.spec.here if n.name == self.src.name]  # one per camera
            for spec in self.spec.here:  # sinks first: the sources start once they are all listening
                if spec not in sources:
                    self._start(spec)
            self._wait_until_listening(stop)
            self._without_failed_sinks()
            for spec in sources:
                self._start(spec)
            deadline = time.monotonic() + self.args.duration if self.args.duration > 0 else None
            while ctx.ok() and not stop.is_set():
                executor.spin_once(timeout_sec=0.1)
                if self.cpu_start is None and self.outputs.main_person > 0:  # start-up and model build left out
                    self.cpu_start = self._cpu_snapshot()
                if self._check_exits():  # the video source is done: every frame processed
                    self._drain()
                    break
                if (
                    deadline is not None
                    and time.monotonic() > deadline
                    and self.outputs.main_person >= self.args.min_results
                ):
                    self.stop_reason = "complete" if self.spec.mode == "webcam" else "stopped"
                    break
            if stop.is_set() or not ctx.ok():  # Ctrl-C / SIGTERM
                raise ExternalShutdownException()
        except (KeyboardInterrupt, ExternalShutdownException):
            # a live graph normally ends with Ctrl-C/SIGTERM; a video stopped early is "interrupted"
            self.stop_reason = "complete" if self.spec.mode == "webcam" else "interrupted"
        except RosDetectError as exc:  # a node failed (or never came up): stop the rest, then report it
            self.stop_reason = "error"
            failure = exc
        finally:
            t_end = time.perf_counter()
            wall = t_end - t0
            if self.cpu_start is not None:
                self.cpu_usage = cpu.per_result(self.cpu_start, self._cpu_snapshot())
            self._stop_graph()
            if self.param_dir is not None:  # never leave a copy of the parameters (passwords) in /tmp
                shutil.rmtree(self.param_dir, ignore_errors=True)
            executor.shutdown(timeout_sec=2.0)  # running callbacks finish before their nodes are destroyed
            if self.recorder is not None:
                self.recorder.close()
                if self.recorder.t_first is not None:  # like `ros-detect video`: from the first frame, not start-up
                    wall = t_end - self.recorder.t_first
                summary = self._summary(self.outputs, wall, self._detector_node())
            if self.outputs is not None:
                self.outputs.destroy_node()
            if ctx.ok():
                rclpy.shutdown(context=ctx)
        if summary is not None:
            self._report(summary)
        if failure is not None:
            raise failure
        if self.failed_sinks:
            print_problem(*sink_failure_problem(self.failed_sinks))
            return SINK_FAILED_EXIT
        return 130 if self.stop_reason == "interrupted" else 0

    def _in_process(self) -> bool:
        return self.args.processes == "one"

    def _cpu_snapshot(self) -> Any:
        """CPU seconds of each node process (and of this launcher) and the results counted so far."""
        pids: dict[str, int | None] = {cpu.LAUNCHER: None}
        if not self._in_process():
            for spec, proc in self.running:
                pids[spec.fqn.lstrip("/") if self.spec.sources else spec.name] = proc.pid
        return cpu.snapshot(pids, self.outputs.main_person, time.perf_counter())

    def _detector_node(self) -> Any:
        return next((node for spec, node in self.running if spec.name == "detector" and self._in_process()), None)

    def _start(self, spec: Any) -> None:
        if self._in_process():
            try:
                node = self._construct(spec)
            except RosDetectError as exc:
                if spec.name not in SINKS:
                    raise
                print_problem(exc.problem, exc.fix)  # what the node process would print before exiting 2
                self._sink_failed(
                    spec.name,
                    f"sink {spec.name} could not start: the detection pipeline keeps running without it, and the "
                    "launch will end with a non-zero exit status",
                )
                return
            self.executor.add_node(node)
            self.running.append((spec, node))
        else:
            self.running.append((spec, self._spawn(spec)))

    def _construct(self, spec: Any) -> Any:
        from rclpy.parameter import Parameter

        cls = getattr(importlib.import_module(spec.module), spec.class_name)
        # rclpy re-types an empty list override as a byte array, which a string-array parameter refuses: an
        # empty list is left to the node's declared default (empty: list parameters default to [] in config/)
        overrides = [Parameter(k, value=v) for k, v in spec.params.items() if v != []]
        return cls(namespace=spec.namespace or None, parameter_overrides=overrides, context=self.ctx)

    def _spawn(self, spec: Any) -> subprocess.Popen:
        if self.params_file is None:
            tmp = self.param_dir = Path(tempfile.mkdtemp(prefix="ros-detect-launch-"))  # mode 0700
            # several cameras: per-camera nodes share a name, so every section names its node in full
            key = (lambda n: n.fqn) if self.spec.sources else (lambda n: n.name)
            self.params_file = dump_param_file(tmp / "params.yaml", {key(n): n.params for n in self.spec.nodes})
        cmd = [sys.executable, "-c", f"import sys; from {spec.module} import main; sys.exit(main())"]
        cmd += ["--ros-args", "--params-file", str(self.params_file)]
        if spec is self.src and "min_image_subscribers" in spec.params:  # may have changed after the file was written
            cmd += ["-p", f"min_image_subscribers:={spec.params['min_image_subscribers']}"]
        if spec.namespace:
            cmd += ["-r", f"__ns:=/{spec.namespace}"]
        # its own process group: a Ctrl-C in the terminal reaches this launcher only, which stops the
        # nodes in graph order (a simultaneous SIGINT would lose the results still in flight)
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
        return subprocess.Popen(cmd, env=os.environ.copy(), **group)

    def _check_exits(self) -> bool:
        """True when the graph is done (the video source finished, here or on another host: its final stats
        say so); a node's failure raises ConfigError."""
        from ros_detect.graph.plan import node_exit_outcome
        from ros_detect.nodes.common import raise_if_failed

        if not self.src_here and self.spec.mode == "video":
            if (self.outputs.source_stats() or {}).get("state") == "finished":
                return True

        for spec, node in self.running:
            if self._in_process():
                raise_if_failed(node)  # a node's fatal error (the detector's, say) ends the graph with it
                done = getattr(node, "done_future", None)
                returncode = 0 if done is not None and done.done() else None
            else:
                returncode = node.poll()
            if returncode is None:
                continue
            outcome = node_exit_outcome(self.spec.mode, spec.name, returncode, stopping=False, namespace=spec.namespace)
            if outcome.action == "finish":
                return True
            if outcome.action == "fail":
                raise ConfigError(outcome.message, "see its error above")
            if outcome.action == "sink_failed":
                self._sink_failed(spec.name, outcome.message)
        return False

    def _without_failed_sinks(self) -> None:
        """The video source waits for its image consumers: not for a sink that failed before it started."""
        lost = sum(name in IMAGE_CONSUMERS for name in self.failed_sinks)
        if lost and "min_image_subscribers" in self.src.params:
            self.src.params["min_image_subscribers"] = max(0, self.src.params["min_image_subscribers"] - lost)

    def _sink_failed(self, name: str, message: str) -> None:
        """A sink is gone: say so once, loudly; the pipeline runs on (the exit status reports it at the end)."""
        if name not in self.failed_sinks:
            self.failed_sinks.append(name)
            print(f"error: {message}", file=sys.stderr, flush=True)

    def _wait_until_listening(self, stop: Any) -> None:
        """Spin until this launcher's result subscriptions are matched and every bridge listens to the results:
        only then may the source publish (a message published before a subscription is matched is lost)."""
        limit = float(self.src.params.get("wait_for_graph_s", GRAPH_UP_TIMEOUT_S))
        t0 = time.monotonic()
        last_report = t0
        sinks = [spec.name for spec in self.spec.nodes if spec.name in SINKS]
        while not stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)
            self._check_exits()
            subscribed = self.outputs.subscribers_of("main_person")
            waiting = [b for b in sinks if b not in subscribed and b not in self.failed_sinks]
            missing = self.outputs.unmatched_results() + waiting
            if not missing:
                return
            waited = time.monotonic() - t0
            if waited > limit:
                raise ConfigError(
                    f"the graph did not come up in {limit:.0f} s: still waiting for {missing}",
                    "see the nodes' output above (a detector builds its model first: raise "
                    "video_source.wait_for_graph_s on a slow machine)",
                )
            if time.monotonic() - last_report > PROGRESS_EVERY_S:
                last_report = time.monotonic()
                print(f"waiting for {missing} ({waited:.0f} s; the detector loads its model first)", flush=True)

    def _drain(self) -> None:
        """After the video source finished, take in the results still on the wire (bounded wait)."""

        def all_back() -> bool:
            stats = self.outputs.source_stats() or {}  # the source's final stats say how many it published
            published = int(stats.get("counters", {}).get("published", -1))
            return stats.get("state") == "finished" and self.outputs.main_person >= published

        self._spin_until(all_back)

    def _spin_until(self, done: Any, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        end = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > end or not self.ctx.ok():
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def _stop_graph(self) -> None:
        """Stop the nodes in graph order (source first), taking in what each still sends.

        A frame already in the detector is finished and published when it stops; main_person answers every
        detection before it is stopped, so the recorded `detections` and `main_person` counts agree; each
        node sends its final stats on the way out.
        """
        for spec, node in self.running:
            stop_requested_ns = time.time_ns()
            self._stop_node(node)
            if spec.name == "detector" and self.ctx.ok():
                self._take_detectors_last_results(spec.fqn, stop_requested_ns)
                self._spin_until(lambda: self.outputs.main_person >= self.outputs.detections)

    def _take_detectors_last_results(self, fqn: str, since_ns: int) -> None:
        """A detector process that has exited may have results still waiting in this process's queues: take
        in the final stats it sends on the way out (stamped after the stop request), then as many detections
        as they count. One source only: several sources' counts include the cameras this launcher does not
        record."""
        if self._in_process() or self.spec.sources:
            return

        def final() -> dict[str, Any] | None:
            doc = self.outputs.last_stats.get(fqn)
            return doc if doc is not None and stamp_to_ns(doc["stamp"]) >= since_ns else None

        if self._spin_until(lambda: final() is not None):
            self._spin_until(lambda: self.outputs.detections >= int(final()["frames"]))

    def _stop_node(self, node: Any) -> None:
        from ros_detect.nodes.common import close_node

        if self._in_process():
            if self.ctx.ok() and hasattr(node, "stats"):
                # the node's counters now, not its last 1 Hz stats message (in one process we can ask)
                self.outputs.last_stats[node.get_fully_qualified_name()] = node.stats.current()
            self.executor.remove_node(node)
            close_node(node)  # the detector finishes (and publishes) the frame in inference
            return
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
            if not self._spin_until(lambda: node.poll() is not None, STOP_TIMEOUT_S):
                node.kill()
                node.wait()

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

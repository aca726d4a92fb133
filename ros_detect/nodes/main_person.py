"""main_person: `detections` -> `main_person` (one typed message per frame) and the graph's end-to-end stats.

Every selection setting (min_score, switch_frames, hold_frames, dropout_frames, smoothing, ...) is live:
`ros2 param set /main_person hold_frames 10` applies from the next frame, for every source.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rclpy.node import Node

from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.nodes.common import COMMON_PARAMS, NodeScaffold, log_parameters, reliable
from ros_detect.nodes.messages import (
    JSON_TOPICS_PARAM,
    Detections,
    MainPerson,
    ResultPublisher,
    detections_doc,
    main_person_msg,
)
from ros_detect.pipeline.stages import select_main_person
from ros_detect.schema import stamp_to_ns
from ros_detect.selection.main_person import MainPersonConfig, MainPersonSelector

NAME = "main_person"
_DEFAULTS = MainPersonConfig()
SELECTION = tuple(f.name for f in dataclasses.fields(MainPersonConfig))
PARAMS = {
    **{f.name: (getattr(_DEFAULTS, f.name), f"main-person selection: {f.name}") for f in dataclasses.fields(_DEFAULTS)},
    "detections_topic": ("detections", "input ros_detect_interfaces/Detections"),
    "main_person_topic": ("main_person", "output ros_detect_interfaces/MainPerson (JSON: ros_detect/main_person@1)"),
    **JSON_TOPICS_PARAM,
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
# ranges: MainPersonConfig.validate() (through check()), at start-up and on every change
LIVE = {name: (lambda v: True, "") for name in SELECTION}
STAGES = ("decode", "preprocess", "inference", "postprocess", "wait")


class MainPersonNode(NodeScaffold, Node):
    PARAMS = PARAMS
    LIVE = LIVE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = self.setup_parameters()
        self.config = self._config(p)
        self.selectors: dict[str, MainPersonSelector] = {}  # one per source (frame_id)
        self.pub = ResultPublisher(self, MainPerson, p["main_person_topic"], reliable(10), p["json_topics"])
        self.start_stats()
        self.sub = self.subscription(Detections, p["detections_topic"], self._on_detections, reliable(10))
        log_parameters(self, p)

    @staticmethod
    def _config(values: dict[str, Any]) -> MainPersonConfig:
        return MainPersonConfig(**{name: values[name] for name in SELECTION}).validate()

    def check(self, values: dict[str, Any]) -> None:
        self._config(values)  # MainPersonConfig.validate(): ConfigError naming the parameter

    def apply_parameter(self, name: str, value: Any) -> None:
        self.config = self._config(self.params)
        for selector in self.selectors.values():  # tracks are kept: the change takes effect from the next frame
            selector.reconfigure(self.config)

    def _on_detections(self, msg: Detections) -> None:
        try:
            det_doc = detections_doc(msg)
            timing = det_doc.get("timing_ms", {})
            capture_ns = stamp_to_ns(det_doc["stamp"])
        except (ValueError, KeyError, TypeError) as exc:
            self.get_logger().warning(f"malformed detections message ignored: {exc}")
            return
        selector = self.selectors.setdefault(det_doc["frame_id"], MainPersonSelector(self.config))
        # capture -> detection done = time waiting for the detector + its own stages
        done_ms = sum(float(timing.get(k, 0.0)) for k in ("wait", "preprocess", "inference", "postprocess"))
        done_ns = capture_ns + int(done_ms * 1e6) if "wait" in timing else None
        doc = select_main_person(selector, det_doc, None, done_ns)
        self.pub.publish(main_person_msg(doc), doc)
        self.stats.window.record(
            latency_ms=doc["latency_ms"],
            stage_ms={k: float(timing[k]) for k in STAGES if k in timing},
            frame_id=det_doc["frame_id"],
        )


def main(args: list[str] | None = None) -> int:
    from ros_detect.nodes.common import run_node

    return run_node(MainPersonNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

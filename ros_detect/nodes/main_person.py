"""main_person: `detections` -> `main_person` (one typed message per frame) and the graph's end-to-end stats."""

from __future__ import annotations

import dataclasses
from typing import Any

from rclpy.node import Node

from ros_detect.graph.plan import with_deployed_defaults
from ros_detect.nodes.common import (
    COMMON_PARAMS,
    StatsPublisher,
    declare_parameters,
    log_parameters,
    make_qos,
    publisher_events,
    subscribe,
)
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
PARAMS = {
    **{f.name: (getattr(_DEFAULTS, f.name), f"main-person selection: {f.name}") for f in dataclasses.fields(_DEFAULTS)},
    "detections_topic": ("detections", "input ros_detect_interfaces/Detections"),
    "main_person_topic": ("main_person", "output ros_detect_interfaces/MainPerson (JSON: ros_detect/main_person@1)"),
    **JSON_TOPICS_PARAM,
    "depth": (10, "subscription/publisher depth (reliable)"),
    **COMMON_PARAMS,
}
PARAMS = with_deployed_defaults(NAME, PARAMS)  # values from config/; types, meaning here
STAGES = ("decode", "preprocess", "inference", "postprocess", "wait")


class MainPersonNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NAME), **kwargs)
        p = declare_parameters(self, PARAMS)
        self.params = p
        config = MainPersonConfig(**{f.name: p[f.name] for f in dataclasses.fields(MainPersonConfig)})
        self.selectors: dict[str, MainPersonSelector] = {}  # one per source (frame_id)
        self.config = config.validate()
        self.pub = ResultPublisher(
            self,
            MainPerson,
            p["main_person_topic"],
            make_qos("reliable", p["depth"], "depth"),
            p["json_topics"],
            event_callbacks=publisher_events(self, p["main_person_topic"]),
        )
        self.stats = StatsPublisher(self, p["stats_topic"], p["stats_period_s"])
        self.sub = subscribe(
            self, Detections, p["detections_topic"], self._on_detections, make_qos("reliable", p["depth"], "depth")
        )
        log_parameters(self, p)

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

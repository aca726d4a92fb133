"""Names of the bridge's Foxglove channels and of the sources it serves (no SDK here: the layout generator
and the node's parameter checks use them without the `web` extra)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Foxglove topic names of a graph without `sources` (absolute: they name WebSocket channels, not ROS topics).
IMAGE_TOPIC = "/image"
ANNOTATIONS_TOPIC = "/annotations"
DETECTIONS_TOPIC = "/detections"
MAIN_PERSON_TOPIC = "/main_person"
STATS_TOPIC = "/stats"  # every node's ros_detect/stats@1 heartbeat, forwarded unchanged
BRIDGE_STATS_TOPIC = "/bridge_stats"  # the bridge's own view of the pipeline: what the Plot panel graphs


@dataclass(frozen=True)
class SourceTopics:
    """The Foxglove channel names of one source. The defaults are those of a graph without `sources`.

    With `sources`, the bridge names each channel after the resolved ROS topic it carries (`/cam1/image`);
    its own channels (annotations, bridge stats) sit beside them (`/cam1/annotations`).
    """

    image: str = IMAGE_TOPIC
    annotations: str = ANNOTATIONS_TOPIC
    detections: str = DETECTIONS_TOPIC
    main_person: str = MAIN_PERSON_TOPIC
    stats: str = STATS_TOPIC
    bridge_stats: str = BRIDGE_STATS_TOPIC

    @classmethod
    def under(cls, namespace: str) -> SourceTopics:
        """The default names under a namespace (`cam1` or `/cam1` -> `/cam1/image`, ...; "" -> `/image`, ...)."""
        prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
        default = cls()
        return replace(default, **{f.name: prefix + getattr(default, f.name) for f in fields(cls)})

"""Names of the bridge's Foxglove channels and of the sources it serves (no SDK here: the layout generator
and the node's parameter checks use them without the `web` extra)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from ros_detect.errors import ConfigError

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


def check_sources(sources: list[str]) -> list[str]:
    """Source names as the `sources` parameter takes them: relative ROS namespaces, each once."""
    bad = [s for s in sources if not _NAMESPACE.fullmatch(s)]
    if bad:
        raise ConfigError(
            f"sources must be relative ROS namespaces, got {bad}",
            "name each source like its namespace without the leading slash, e.g. sources:=[cam1,cam2]",
        )
    if len(set(sources)) != len(sources):
        raise ConfigError(f"sources lists a namespace twice: {sources}", "name each source once")
    return list(sources)


_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*")


def source_topic(source: str, topic: str) -> str:
    """The relative ROS topic of `topic` under a source's namespace (`cam1` + `image` -> `cam1/image`), so
    remapping still applies; without a source, `topic` itself."""
    if not source:
        return topic
    if topic.startswith(("/", "~")):
        raise ConfigError(
            f"topic {topic!r} is not relative, so it cannot be taken per source ({source}/...)",
            "give the topic parameters relative names (e.g. image) when `sources` is set",
        )
    return f"{source}/{topic}"

"""The `sources` parameter of the nodes that serve several cameras (detector, foxglove_bridge): each source is
a relative ROS namespace, and its topics are the node's topic names under it (relative, so remapping applies)."""

from __future__ import annotations

import re

from ros_detect.errors import ConfigError


def check_sources(sources: list[str]) -> list[str]:
    """Source names as the `sources` parameter takes them: relative ROS namespaces, each once."""
    bad = [s for s in sources if not _NAMESPACE.fullmatch(s)]
    if bad:
        raise ConfigError(
            f"sources must be relative ROS namespaces, got {bad}",
            "name each source like its namespace without the leading slash, e.g. sources:=[cam1,cam2]",
        )
    if len(set(sources)) != len(sources):
        raise ConfigError(
            f"sources lists a namespace twice: {sources}", "name each source once, e.g. sources:=[cam1, cam2]"
        )
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

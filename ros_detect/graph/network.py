"""Where a graph's DDS traffic may go: this machine only unless the user opts into a multi-host graph.

ROS 2's own default discovery range is the subnet: every node's images and results are then visible to (and
can be injected by) anyone on the LAN. Both launchers keep their graph on the machine instead
(`ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`) unless the user asks for more: `--network subnet` /
`network:=subnet`, or discovery variables already set in the environment (an explicit choice, respected).
Pure: the launchers apply the returned variables before any node starts (rclpy reads them at init).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ros_detect.errors import ConfigError

RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
# set by a user who chose how discovery works: left alone
USER_DISCOVERY_VARS = (RANGE_VAR, "ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY")
NETWORK_CHOICES = {"localhost": "LOCALHOST", "subnet": "SUBNET"}
DOCS = "docs/reliability-security.md"


@dataclass(frozen=True)
class DiscoveryChoice:
    env: dict[str, str] = field(default_factory=dict)  # variables the launcher sets for its nodes
    message: str = ""  # the one start-up line: what was chosen and how to change it


def discovery_choice(environ: Mapping[str, str], network: str = "") -> DiscoveryChoice:
    """The discovery range of a graph: `network` ('' = not given, then the environment, then localhost)."""
    network = network.strip().lower()
    if network and network not in NETWORK_CHOICES:
        raise ConfigError(
            f"unknown network choice {network!r}",
            f"use one of: {', '.join(NETWORK_CHOICES)} (--network / launch argument network:=)",
        )
    if network == "subnet":
        return DiscoveryChoice(
            {RANGE_VAR: "SUBNET"},
            f"DDS discovery: {RANGE_VAR}=SUBNET (--network subnet): the graph's topics, camera images "
            f"included, are reachable from the local network; protect it as {DOCS} says",
        )
    user = {name: environ[name] for name in USER_DISCOVERY_VARS if environ.get(name, "").strip()}
    if not network and user:
        shown = " ".join(f"{k}={v}" for k, v in user.items())
        return DiscoveryChoice(
            {},
            f"DDS discovery: as set in your environment ({shown}); unset it (or pass --network localhost / "
            "network:=localhost) to keep the graph on this machine",
        )
    env = {RANGE_VAR: "LOCALHOST"}
    if network == "localhost" and environ.get("ROS_STATIC_PEERS", "").strip():
        env["ROS_STATIC_PEERS"] = ""  # peers would reach past the machine
    return DiscoveryChoice(
        env,
        f"DDS discovery: {RANGE_VAR}=LOCALHOST (the graph stays on this machine); for a multi-host graph pass "
        "--network subnet (ros2 launch: network:=subnet) or set ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_STATIC_PEERS "
        "yourself",
    )

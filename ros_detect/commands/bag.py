"""`ros-detect bag record|play`: rosbag2 bags (MCAP / SQLite3) without `ros2 bag`, built on `rosbags`.

record subscribes with `raw=True` and stores the CDR bytes as received; play publishes stored CDR bytes
with `publisher.publish(bytes)`. Nothing is deserialized on the way, so bags are interchangeable with
`ros2 bag`. play can pace images on results coming back (--pace-results main_person), like video_source,
so a replay processes every frame on any machine, however slow its detector.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
from pathlib import Path
from typing import Any

from ros_detect.errors import ConfigError, InputError
from ros_detect.graph.bag import STORAGES, BagWriter, bag_topics, read_bag

log = logging.getLogger(__name__)
PACED_TYPE = "sensor_msgs/msg/Image"
RESULT_TYPE = "ros_detect_interfaces/msg/MainPerson"  # --pace-results topic type until the graph shows it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_command", required=True, metavar="{record,play}")
    rec = sub.add_parser("record", help="record topics into a new bag", description="record topics into a new bag")
    rec.add_argument("output", type=Path, help="bag directory to create")
    rec.add_argument("--topics", nargs="+", required=True, help="topics to record (relative to --namespace)")
    rec.add_argument("--storage", choices=STORAGES, default="mcap", help="mcap (default) or sqlite3")
    rec.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = until Ctrl-C)")
    rec.add_argument("--count", type=int, default=0, help="stop once every topic has this many messages")
    rec.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a publisher on every topic")
    rec.add_argument("--namespace", default="")
    play = sub.add_parser("play", help="publish the messages of a bag", description="publish the messages of a bag")
    play.add_argument("bag", type=Path, help="bag directory (from record or ros2 bag)")
    play.add_argument("--topics", nargs="+", help="only these topics (default: all)")
    play.add_argument("--rate", type=float, default=1.0, help="1 = recorded timing, 2 = twice as fast, 0 = no delay")
    play.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a subscriber on every topic")
    play.add_argument("--pace-results", metavar="TOPIC", help="keep at most --max-in-flight images without a result")
    play.add_argument("--max-in-flight", type=int, default=2)
    play.add_argument("--pace-topic", help="the topic paced by --pace-results (default: every sensor_msgs/Image topic)")
    play.add_argument("--result-timeout", type=float, default=120.0, help="give up waiting for a result after this")
    play.add_argument("--namespace", default="")


def run(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    try:
        with rclpy.init():
            node = rclpy.create_node(f"ros_detect_bag_{args.bag_command}", namespace=args.namespace or None)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                if args.bag_command == "record":
                    return _record(node, executor, args)
                return _play(node, executor, args)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0  # record: Ctrl-C is the normal stop; the bag was closed in _record's finally


def message_class(msgtype: str) -> Any:
    """sensor_msgs/msg/Image -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"message type {msgtype} is not installed", f"pip install ros-kilted-{package}") from exc


def _qos_for(node: Any, topic: str) -> Any:
    """Reliable unless a publisher is best effort (a reliable reader would not match it)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    infos = node.get_publishers_info_by_topic(topic)
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    return QoSProfile(
        depth=100, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
    )


def _record(node: Any, executor: Any, args: argparse.Namespace) -> int:
    resolved = {t: node.resolve_topic_name(t) for t in args.topics}
    types: dict[str, str] = {}
    deadline = time.monotonic() + args.wait
    while len(types) < len(resolved):
        known = dict(node.get_topic_names_and_types())
        types = {t: known[full][0] for t, full in resolved.items() if known.get(full)}
        if time.monotonic() > deadline:
            missing = sorted(set(resolved.values()) - {resolved[t] for t in types})
            raise InputError(f"no publisher on {missing} after {args.wait:.0f} s", "start the graph first, or --wait")
        executor.spin_once(timeout_sec=0.1)
    writer = BagWriter(args.output, args.storage)
    for topic, msgtype in types.items():
        writer.add_topic(resolved[topic], msgtype)

    def callback(topic: str, msgtype: str) -> Any:
        return lambda data: writer.write(topic, msgtype, time.time_ns(), data)

    for topic, msgtype in types.items():
        full = resolved[topic]
        node.create_subscription(message_class(msgtype), full, callback(full, msgtype), _qos_for(node, full), raw=True)
    print(f"recording {sorted(resolved.values())} into {args.output} ({args.storage})", flush=True)
    end = time.monotonic() + args.duration if args.duration > 0 else None
    try:
        while end is None or time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
            if args.count and all(n >= args.count for n in writer.counts.values()):
                break
    finally:
        writer.close()
        print(f"recorded {writer.counts} into {args.output}", flush=True)
    return 0


def _play(node: Any, executor: Any, args: argparse.Namespace) -> int:
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    if args.rate < 0 or args.max_in_flight < 1:
        raise ConfigError("bad --rate or --max-in-flight", "use --rate >= 0 and --max-in-flight >= 1")
    topics = bag_topics(args.bag)
    wanted = {t: v for t, v in topics.items() if not args.topics or t in args.topics or t.lstrip("/") in args.topics}
    if not wanted:
        raise InputError(f"bag {args.bag} has none of the topics {args.topics}", f"it has: {sorted(topics)}")
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {t: node.create_publisher(message_class(msgtype), t.lstrip("/"), qos) for t, (msgtype, _) in wanted.items()}
    results = [0]
    if args.pace_results:
        result_type = message_class(_topic_type(node, executor, args.pace_results, args.wait) or RESULT_TYPE)
        count = lambda _data: results.__setitem__(0, results[0] + 1)  # noqa: E731
        node.create_subscription(result_type, args.pace_results, count, qos, raw=True)  # counted, not decoded
    deadline = time.monotonic() + args.wait
    while any(p.get_subscription_count() == 0 for p in pubs.values()) and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)
    idle = [t for t, p in pubs.items() if p.get_subscription_count() == 0]
    if idle:
        log.warning("no subscriber on %s after %.0f s; publishing anyway", idle, args.wait)
    paced = 0
    t_wall0 = time.monotonic()
    t_bag0: int | None = None
    for msg in read_bag(args.bag, list(wanted)):
        if t_bag0 is None:
            t_bag0 = msg.timestamp_ns
        if args.rate > 0:
            due = t_wall0 + (msg.timestamp_ns - t_bag0) / 1e9 / args.rate
            while time.monotonic() < due:
                executor.spin_once(timeout_sec=min(0.05, max(0.0, due - time.monotonic())))
        is_paced = (
            msg.topic.lstrip("/") == args.pace_topic.lstrip("/") if args.pace_topic else msg.msgtype == PACED_TYPE
        )
        if args.pace_results and is_paced:
            _wait_results(executor, results, paced - args.max_in_flight + 1, args.result_timeout)
            paced += 1
        pubs[msg.topic].publish(msg.data)  # serialized CDR, published as is
        executor.spin_once(timeout_sec=0)
    if args.pace_results:
        _wait_results(executor, results, paced, args.result_timeout)
    print(f"played {sum(n for _, n in wanted.values())} messages from {args.bag}; {results[0]} results", flush=True)
    return 0


def _topic_type(node: Any, executor: Any, topic: str, wait_s: float) -> str | None:
    """The type a publisher of `topic` uses, once one is seen within `wait_s` (None if none is)."""
    full = node.resolve_topic_name(topic)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        types = dict(node.get_topic_names_and_types()).get(full)
        if types:
            return types[0]
        executor.spin_once(timeout_sec=0.1)
    return None


def _wait_results(executor: Any, results: list[int], target: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while results[0] < target:
        if time.monotonic() > deadline:
            log.warning("waited %.0f s for results (%d of %d); going on", timeout_s, results[0], target)
            return
        executor.spin_once(timeout_sec=0.05)

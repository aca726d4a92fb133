"""What every node shares: typed parameter declaration, QoS from parameters, the stats heartbeat, main()."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.duration import Duration
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

from ros_detect import schema
from ros_detect.errors import ConfigError, RosDetectError, article, print_problem
from ros_detect.graph.stats import StatsWindow

log = logging.getLogger(__name__)

# name -> (default, description). The default's Python type is the parameter's type.
ParamSpec = dict[str, tuple[Any, str]]

COMMON_PARAMS: ParamSpec = {
    "stats_topic": ("stats", "topic of the ros_detect/stats@1 heartbeat (std_msgs/String)"),
    "stats_period_s": (1.0, "seconds between stats messages (0 = none)"),
}


SECRET_WORDS = ("password", "secret", "token")


def declare_parameters(node: Node, spec: ParamSpec) -> dict[str, Any]:
    """Declare typed parameters (with descriptions) and return their effective values."""
    from rcl_interfaces.msg import ParameterDescriptor

    values: dict[str, Any] = {}
    for name, (default, description) in spec.items():
        try:
            node.declare_parameter(name, default, ParameterDescriptor(description=description))
        except ParameterException as exc:  # e.g. `-p proposals:=abc`: rclpy raises, a user needs problem + fix
            detail = str(exc).splitlines()[0]
            if any(word in name for word in SECRET_WORDS):  # rclpy's message quotes the value: never print a secret
                detail = f"expected {article(type(default).__name__)}; value not shown"
            raise ConfigError(
                f"{node.get_name()}: parameter '{name}' has the wrong type or value ({detail})",
                f"give '{name}' {article(type(default).__name__)} value like its default {default!r} "
                f"(-p {name}:={_ros_literal(default)} or the parameter file)",
            ) from None
        value = node.get_parameter(name).value
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        values[name] = value
    return values


def _ros_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if value else "''"
    return str(value)


def check_parameters(node: Node, values: dict[str, Any], rules: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    """Refuse to start on an out-of-range value: rules name -> (is_valid, what a valid value is)."""
    for name, (ok, expected) in rules.items():
        if not ok(values[name]):
            raise ConfigError(
                f"{node.get_name()}: parameter '{name}' = {values[name]!r} is out of range",
                f"set '{name}' to {expected}",
            )


def log_parameters(node: Node, values: dict[str, Any]) -> None:
    shown = " ".join(f"{k}={v!r}" for k, v in sorted(values.items()))
    node.get_logger().info(f"started {node.get_fully_qualified_name()} with {shown}")


def make_qos(reliability: str, depth: int, name: str = "QoS depth") -> QoSProfile:
    """KEEP_LAST(depth) with `reliable` or `best_effort` (REP-2003: sensor data best effort)."""
    reliability = reliability.lower().replace("-", "_")
    policies = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
    if reliability not in policies:
        raise ConfigError(f"unknown QoS reliability {reliability!r}", "use reliable or best_effort")
    if depth < 1:
        raise ConfigError(f"{name} must be >= 1, got {depth}", f"set {name} to e.g. 1 (latest wins) or 10")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=policies[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


def subscribe(node: Node, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: QoSProfile) -> Any:
    """create_subscription with QoS/lost-message logging; without the lost-message event where the RMW lacks it."""
    from rclpy.event_handler import UnsupportedEventTypeError

    shown = node.resolve_topic_name(topic)  # the full name, so a namespaced graph's log says which one
    try:
        return node.create_subscription(
            msg_type, topic, callback, qos, event_callbacks=subscription_events(node, shown)
        )
    except UnsupportedEventTypeError:
        events = subscription_events(node, shown, lost=False)
        return node.create_subscription(msg_type, topic, callback, qos, event_callbacks=events)


def subscription_events(node: Node, topic: str, lost: bool = True) -> SubscriptionEventCallbacks:
    """Log incompatible QoS, lost messages, and publishers going away / coming back instead of staying silent."""
    logger = node.get_logger()

    def matched(info: Any) -> None:
        # an upstream node that crashed or was stopped shows here (a killed one after the DDS lease, ~20 s)
        if info.current_count_change < 0:
            logger.warning(f"'{topic}': a publisher went away ({info.current_count} left); waiting for it to return")
        elif info.current_count_change > 0 and info.total_count > info.current_count_change:
            logger.info(f"'{topic}': a publisher is back ({info.current_count} now); resuming")

    def incompatible(info: Any) -> None:
        logger.error(
            f"subscription to '{topic}' has QoS incompatible with a publisher (policy id {info.last_policy_kind}); "
            "no data will flow: align reliability/durability in the parameter file"
        )

    def on_lost(info: Any) -> None:
        logger.warning(f"'{topic}': {info.total_count_change} message(s) lost (total {info.total_count})")

    return SubscriptionEventCallbacks(
        incompatible_qos=incompatible, message_lost=on_lost if lost else None, matched=matched if lost else None
    )


def publisher_events(node: Node, topic: str) -> PublisherEventCallbacks:
    logger = node.get_logger()

    def incompatible(info: Any) -> None:
        logger.error(
            f"a subscriber to '{topic}' requests QoS this publisher cannot offer (policy id {info.last_policy_kind})"
        )

    return PublisherEventCallbacks(incompatible_qos=incompatible)


class StatsPublisher:
    """Publishes a node's StatsWindow on `stats_topic` every `stats_period_s` (reliable, depth 10)."""

    def __init__(self, node: Node, topic: str, period_s: float, window: StatsWindow | None = None) -> None:
        self.node = node
        self.window = window or StatsWindow(node.get_fully_qualified_name())
        self.pub = node.create_publisher(String, topic, 10)
        self.extra: Callable[[StatsWindow], None] | None = None  # refresh counters right before publishing
        self.timer = node.create_timer(period_s, self.publish) if period_s > 0 else None

    def current(self) -> dict[str, Any]:
        """The stats document as of now, without publishing it."""
        if self.extra is not None:
            self.extra(self.window)
        return self.window.doc()

    def publish(self) -> dict[str, Any]:
        doc = self.current()
        self.pub.publish(String(data=schema.dumps(doc)))
        return doc


def string_msg(doc: dict[str, Any]) -> String:
    return String(data=schema.dumps(doc))


# Longest a stop request (Ctrl-C, SIGTERM) waits before the spin loop sees it.
STOP_POLL_S = 0.2
# Longest a stopping node waits for subscribers to acknowledge its final stats message.
FINAL_STATS_ACK_S = 1.0


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Start one node: clean Ctrl-C/SIGTERM, user errors as problem + fix, spin until `done_future` if any."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_opencv_threads()
    code = 0
    try:
        # Our own handlers, not rclpy's: rclpy's guard-condition wake-up was seen to miss a SIGTERM now and
        # then (the node hung until SIGKILL); a flag polled between bounded waits cannot be missed.
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO) as init:
            stop = install_stop_handlers()
            node = factory()
            # One thread: callbacks are short (the detector infers on its own thread); a thread pool would add
            # a hand-off and GIL waits (up to 5 ms) to every message.
            executor = SingleThreadedExecutor(context=node.context)
            try:
                executor.add_node(node)
                done = getattr(node, "done_future", None)
                while not stop.is_set() and init.context.ok() and not (done is not None and done.done()):
                    executor.spin_once(timeout_sec=STOP_POLL_S)
                publish_final_stats(node)
                raise_if_failed(node)  # e.g. the detector's RosDetectError: problem + fix below
            finally:
                executor.shutdown(timeout_sec=2.0)  # callbacks finish before the node is destroyed under them
                close_node(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ParameterException as exc:  # a parameter set after start-up: problem + fix, never a traceback
        print_problem(
            f"parameter problem: {str(exc).splitlines()[0]}",
            "give the parameter the type and range of its default (ros2 param describe)",
        )
        code = 2
    except RosDetectError as exc:
        print_problem(exc.problem, exc.fix)
        code = 2
    exit_now(code)
    return code  # not reached


def raise_if_failed(node: Node) -> None:
    """Raise the fatal error a node reported by failing its `done_future` (see ros_detect.nodes)."""
    done = getattr(node, "done_future", None)
    if done is not None and done.done() and done.exception() is not None:
        raise done.exception()


def publish_final_stats(node: Node) -> None:
    """Send the node's stats as of now and wait (bounded) until subscribers have them: a launcher or a
    monitor then reports the final counters, not those of the last periodic message."""
    stats = getattr(node, "stats", None)
    if isinstance(stats, StatsPublisher) and node.context.ok():
        stats.publish()
        stats.pub.wait_for_all_acked(Duration(seconds=FINAL_STATS_ACK_S))


def limit_opencv_threads() -> None:
    """One OpenCV thread per node process: its per-frame work (decode, resize, JPEG) is a few ms, and a
    thread pool would only preempt the detector's inference threads on a small machine."""
    import cv2

    cv2.setNumThreads(1)


def install_stop_handlers(second: Callable[[], None] | None = None) -> threading.Event:
    """SIGINT/SIGTERM set the returned event (the spin loop polls it).

    A second signal means the clean shutdown is stuck: `second()` runs, by default ending the process.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if not stop.is_set():
            stop.set()
        elif second is not None:
            second()
        else:
            exit_now(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop


def exit_now(code: int) -> None:
    """End the node process without interpreter finalisation, everything being closed already.

    Finalisation joined the executor's worker threads (one may be mid-inference) and garbage-collected
    torch: 5-10 s after SIGTERM on a loaded machine, long enough for ros2 launch to escalate to SIGKILL.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def close_node(node: Node) -> None:
    """Release what a node holds (files, captures, threads), then the node itself; never raises."""
    try:
        close = getattr(node, "close", None)
        if close is not None:
            close()
        node.destroy_node()
    except Exception as exc:  # shutting down: report, don't mask the original exit reason
        log.warning("closing %s: %s", node.get_name(), exc)

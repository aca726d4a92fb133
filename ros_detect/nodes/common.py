"""What every node shares: typed parameters (read-only or live), standard QoS overrides, the stats heartbeat,
counted message loss, and main() (`run_node`)."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.duration import Duration
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String

from ros_detect import schema
from ros_detect.errors import ConfigError, RosDetectError, article, print_problem
from ros_detect.graph.stats import LossLog, StatsWindow

log = logging.getLogger(__name__)

# name -> (default, description). The default's Python type is the parameter's type.
ParamSpec = dict[str, tuple[Any, str]]
# name -> (is_valid(value), what a valid value is): checked at start-up and, for live parameters, on every set
Rules = dict[str, tuple[Callable[[Any], bool], str]]

COMMON_PARAMS: ParamSpec = {
    "stats_topic": ("stats", "topic of the ros_detect/stats@1 heartbeat (std_msgs/String)"),
    "stats_period_s": (1.0, "seconds between stats messages (0 = none)"),
}

SECRET_WORDS = ("password", "secret", "token")
READ_ONLY_NOTE = "read-only: fixed at start-up; restart the node (or change the parameter file) to change it"
LIVE_NOTE = "live: `ros2 param set` applies it at once"

_PARAM_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}


def parameter_type(default: Any) -> int:
    if isinstance(default, list):
        kinds = {type(v) for v in default} or {str}
        arrays = {
            str: ParameterType.PARAMETER_STRING_ARRAY,
            int: ParameterType.PARAMETER_INTEGER_ARRAY,
            float: ParameterType.PARAMETER_DOUBLE_ARRAY,
            bool: ParameterType.PARAMETER_BOOL_ARRAY,
        }
        return arrays[kinds.pop()] if len(kinds) == 1 else ParameterType.PARAMETER_NOT_SET
    return _PARAM_TYPES[type(default)]


def declare_parameters(node: Node, spec: ParamSpec, live: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Declare typed parameters (description, type, read-only unless in `live`) and return their values."""
    values: dict[str, Any] = {}
    for name, (default, description) in spec.items():
        descriptor = ParameterDescriptor(
            description=description,
            type=parameter_type(default),
            read_only=name not in live,
            additional_constraints=LIVE_NOTE if name in live else READ_ONLY_NOTE,
        )
        # rclpy types an empty list as a byte array and reads `[]` in a parameter file as "not set": declare
        # such a parameter by its type; unset, it keeps its empty default.
        value = Parameter.Type.STRING_ARRAY if default == [] else default
        # an empty override (`Parameter('sources', value=[])`, a byte array to rclpy) is that default too
        override = getattr(node, "_parameter_overrides", {}).get(name)
        empty_override = default == [] and override is not None and not override.value
        try:
            node.declare_parameter(name, value, descriptor, ignore_override=empty_override)
        except ParameterException as exc:  # e.g. `-p proposals:=abc`: rclpy raises, a user needs problem + fix
            detail = str(exc).splitlines()[0]
            if any(word in name for word in SECRET_WORDS):  # rclpy's message quotes the value: never print a secret
                detail = f"expected {article(type(default).__name__)}; value not shown"
            raise ConfigError(
                f"{node.get_name()}: parameter '{name}' has the wrong type or value ({detail})",
                f"give '{name}' {article(type(default).__name__)} value like its default {default!r} "
                f"(-p {name}:={_ros_literal(default)} or the parameter file)",
            ) from None
        try:
            values[name] = _plain(node.get_parameter(name).value, default)
        except ParameterUninitializedException:
            values[name] = list(default)
    return values


def _plain(value: Any, default: Any) -> Any:
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, list):
        return list(value)
    return value


def _ros_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if value else "''"
    return str(value)


def check_parameters(node: Node, values: dict[str, Any], rules: Rules) -> None:
    """Refuse an out-of-range value: rules name -> (is_valid, what a valid value is)."""
    for name, (ok, expected) in rules.items():
        if name in values and not ok(values[name]):
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


# -- QoS overrides -------------------------------------------------------------------------------------------
# Every publisher and subscription takes rclpy's standard `qos_overrides.<topic>.<publisher|subscription>.
# <history|depth|reliability>` parameters (read-only, from -p or a parameter file). rclpy keys them by the
# fully resolved topic; so that one parameter file serves a graph in any namespace, a node in a namespace also
# takes the key written with the topic as configured (`qos_overrides./image...` for `/door/image`); the fully
# resolved key wins when both are given.
QOS_POLICIES = ("history", "depth", "reliability")


def qos_parameter(topic: str, kind: str, policy: str) -> str:
    return f"qos_overrides.{topic}.{kind}.{policy}"


def _with_plain_overrides(
    node: Node, topic: str, kind: str, qos: QoSProfile, configured: str | None = None
) -> QoSProfile:
    """`configured`: the topic as the parameter files name it, when it differs from `topic` (a detector serving
    sources subscribes `cam1/image`, and `qos_overrides./image...` sets the QoS of every source's `image`)."""
    resolved = node.resolve_topic_name(topic)
    configured = configured or topic
    plain = configured if configured.startswith("/") else "/" + configured
    if configured.startswith("~") or plain == resolved:
        return qos
    overrides = getattr(node, "_parameter_overrides", {})  # rclpy keeps -p / file values of undeclared names here
    for policy in QOS_POLICIES:
        param = overrides.get(qos_parameter(plain, kind, policy))
        if param is not None:
            _set_policy(qos, policy, param.value, qos_parameter(plain, kind, policy))
    return qos


def _set_policy(qos: QoSProfile, policy: str, value: Any, name: str) -> None:
    enums = {"history": HistoryPolicy, "reliability": ReliabilityPolicy}
    try:
        if policy == "depth":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            qos.depth = value
        else:
            qos.__setattr__(policy, enums[policy][str(value).upper()])
    except (KeyError, TypeError):
        raise _qos_error(name, value) from None


def _qos_error(name: str, value: Any) -> ConfigError:
    policy = name.rsplit(".", 1)[-1]
    fixes = {
        "reliability": "reliable or best_effort",
        "history": "keep_last (with depth >= 1) or keep_all",
        "depth": "an integer >= 1, e.g. 1 (latest wins) or 10",
    }
    return ConfigError(f"QoS parameter '{name}' = {value!r} is not valid", f"set it to {fixes.get(policy, policy)}")


def _check_qos(name: str) -> Callable[[QoSProfile], SetParametersResult]:
    def check(qos: QoSProfile) -> SetParametersResult:
        if qos.history == HistoryPolicy.KEEP_LAST and qos.depth < 1:
            return SetParametersResult(successful=False, reason=f"{name}.depth must be >= 1, got {qos.depth}")
        return SetParametersResult(successful=True)

    return check


def _overridable(
    node: Node, topic: str, kind: str, qos: QoSProfile, create: Callable[..., Any], configured: str | None = None
) -> Any:
    """create(qos, options) with standard overrides; a bad override is problem + fix, never a traceback."""
    qos = _with_plain_overrides(node, topic, kind, QoSProfile(**_profile_kwargs(qos)), configured)
    prefix = f"qos_overrides.{node.resolve_topic_name(topic)}.{kind}"
    options = QoSOverridingOptions.with_default_policies(callback=_check_qos(prefix))
    try:
        return create(qos, options)
    except InvalidQosOverridesError as exc:
        reason = str(exc).rsplit("are not valid: ", 1)[-1]
        problem = f"{node.get_name()}: QoS overrides of '{prefix}' are not valid: {reason}"
        raise ConfigError(problem, _qos_fix()) from None
    except ParameterException as exc:  # a value of the wrong type, e.g. depth:=abc
        raise ConfigError(f"{node.get_name()}: {str(exc).splitlines()[0]}", _qos_fix()) from None
    except RuntimeError as exc:  # rclpy: "Unexpected QoS override for policy `reliability`: `x`"
        if "QoS override" not in str(exc):
            raise
        raise ConfigError(f"{node.get_name()}: {exc} ({prefix})", _qos_fix()) from None


def _qos_fix() -> str:
    return "reliability: reliable | best_effort; history: keep_last | keep_all; depth: an integer >= 1"


def _profile_kwargs(qos: QoSProfile | int) -> dict[str, Any]:
    if isinstance(qos, int):
        return {"history": HistoryPolicy.KEEP_LAST, "depth": qos}
    return {
        "history": qos.history,
        "depth": qos.depth,
        "reliability": qos.reliability,
        "durability": qos.durability,
    }


def create_publisher(
    node: Node, msg_type: Any, topic: str, qos: QoSProfile | int, *, lifecycle: bool = False, **kwargs: Any
) -> Any:
    """create_publisher (or create_lifecycle_publisher) with standard QoS overrides and incompatibility logging."""
    kwargs.setdefault("event_callbacks", publisher_events(node, node.resolve_topic_name(topic)))
    factory = node.create_lifecycle_publisher if lifecycle else node.create_publisher

    def create(profile: QoSProfile, options: QoSOverridingOptions) -> Any:
        return factory(msg_type, topic, profile, qos_overriding_options=options, **kwargs)

    return _overridable(node, topic, "publisher", qos, create)


def subscribe(
    node: Node,
    msg_type: Any,
    topic: str,
    callback: Callable[[Any], None],
    qos: QoSProfile | int,
    *,
    counters: dict[str, int] | None = None,
    configured: str | None = None,
) -> Any:
    """create_subscription with standard QoS overrides and QoS/loss/peer events logged (see subscription_events).

    Messages the middleware reports lost are added to `counters[<topic>_lost]` (the node's stats). `configured`:
    the topic name the plain QoS overrides use, when not `topic` (see _with_plain_overrides)."""
    shown = node.resolve_topic_name(topic)  # the full name, so a namespaced graph's log says which one

    created: list[Any] = []

    def best_effort() -> bool:  # the effective QoS: rclpy applies the overrides while creating the subscription
        return bool(created) and created[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT

    def create(profile: QoSProfile, options: QoSOverridingOptions) -> Any:
        events = subscription_events(node, shown, counters=counters, by_design=best_effort)
        try:
            created.append(
                node.create_subscription(
                    msg_type, topic, callback, profile, event_callbacks=events, qos_overriding_options=options
                )
            )
            return created[0]
        except UnsupportedEventTypeError:  # an RMW without the lost-message event
            events = subscription_events(node, shown, lost=False)
            return node.create_subscription(
                msg_type, topic, callback, profile, event_callbacks=events, qos_overriding_options=options
            )

    return _overridable(node, topic, "subscription", qos, create, configured)


def lost_counter(topic: str) -> str:
    """Stats counter of the messages lost on a subscription: `image_lost` for `/cam1/image`."""
    return f"{topic.rstrip('/').rsplit('/', 1)[-1]}_lost"


# A summary of messages lost on a subscription at most this often, however many are lost
LOSS_LOG_PERIOD_S = 10.0


def subscription_events(
    node: Node,
    topic: str,
    lost: bool = True,
    *,
    counters: dict[str, int] | None = None,
    by_design: Callable[[], bool] = lambda: False,
) -> SubscriptionEventCallbacks:
    """Log incompatible QoS, lost messages, and publishers going away / coming back instead of staying silent.

    Lost messages are counted (stats counter `<topic>_lost`) and summarised at most every LOSS_LOG_PERIOD_S: a
    best-effort, depth-1 subscription (latest wins) loses frames by design, dozens a minute. That summary is
    INFO on such a subscription, WARN on a reliable one (where a loss means a problem).
    """
    logger = node.get_logger()
    losses = LossLog(LOSS_LOG_PERIOD_S)
    counter = lost_counter(topic)

    def matched(info: Any) -> None:
        # an upstream node that crashed or was stopped shows here (a killed one after the DDS lease, ~20 s)
        if info.current_count_change < 0:
            logger.warning(f"'{topic}': a publisher went away ({info.current_count} left); waiting for it to return")
        elif info.current_count_change > 0 and info.total_count > info.current_count_change:
            logger.info(f"'{topic}': a publisher is back ({info.current_count} now); resuming")

    def incompatible(info: Any) -> None:
        logger.error(
            f"subscription to '{topic}' has QoS incompatible with a publisher (policy id {info.last_policy_kind}); "
            "no data will flow: align reliability/durability with the qos_overrides parameters"
        )

    def on_lost(info: Any) -> None:
        if counters is not None:
            counters[counter] = int(info.total_count)
        report = losses.add(int(info.total_count_change))
        if report is not None:
            recent, total, span_s = report
            over = f" in the last {span_s:.0f} s" if span_s >= 1 else ""
            text = f"'{topic}': {recent} message(s) lost{over} (total {total})"
            if by_design():
                logger.info(f"{text}; best effort, latest wins: expected while this node is busy")
            else:
                logger.warning(text)

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
    """Publishes a node's stats document on `stats_topic` every `stats_period_s` (reliable, depth 10).

    The document is `window.doc()` with `counters` merged in, or what `source()` returns (the Foxglove relay
    builds its own)."""

    def __init__(
        self,
        node: Node,
        topic: str,
        period_s: float,
        window: StatsWindow | None = None,
        source: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.node = node
        self.window = window or StatsWindow(node.get_fully_qualified_name())
        self.source = source
        self.counters: dict[str, int] = {}  # e.g. messages lost per subscription, kept by subscription_events
        self.pub = create_publisher(node, String, topic, 10)
        self.extra: Callable[[StatsWindow], None] | None = None  # refresh counters right before publishing
        self.timer = node.create_timer(period_s, self.publish) if period_s > 0 else None

    def current(self) -> dict[str, Any]:
        """The stats document as of now, without publishing it."""
        if self.extra is not None:
            self.extra(self.window)
        doc = self.source() if self.source is not None else self.window.doc()
        doc["counters"] = {**doc.get("counters", {}), **self.counters}
        return doc

    def publish(self) -> dict[str, Any]:
        doc = self.current()
        self.pub.publish(String(data=schema.dumps(doc)))
        return doc


FAILED_STATS_WAIT_S = 5.0  # longest a sink that cannot start waits for a `stats` subscriber to tell


def report_failed_start(node: Node, stats_topic: str) -> None:
    """A sink that cannot start says so on `stats` too (state `failed`, counter `start_failed`), not only in its
    log: the MQTT bridge, the web view or a monitor then see it. Bounded waits: it is about to exit."""
    window = StatsWindow(node.get_fully_qualified_name(), state="failed", counters={"start_failed": 1})
    pub = create_publisher(node, String, stats_topic, 10)
    deadline = time.monotonic() + FAILED_STATS_WAIT_S
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    pub.publish(string_msg(window.doc()))
    pub.wait_for_all_acked(Duration(seconds=FINAL_STATS_ACK_S))


def string_msg(doc: dict[str, Any]) -> String:
    return String(data=schema.dumps(doc))


class NodeScaffold:
    """What every ros_detect node does the same way; mixed in before rclpy's Node or LifecycleNode:

        class MainPersonNode(NodeScaffold, Node):
            PARAMS = {...}; LIVE = {...}
            def __init__(self, **kwargs):
                super().__init__(kwargs.pop("node_name", NAME), **kwargs)
                p = self.setup_parameters()

    * `PARAMS` (ParamSpec) are declared typed, with descriptions; those named in `LIVE` (Rules) can be set at
      run time, every other one is read-only (`ros2 param set` is refused, naming the reason).
    * `RULES` and `LIVE` are checked at start-up (ConfigError: exit 2), and `LIVE` again on every set
      (refused with the reason); `check(values)` adds checks across parameters. An accepted change reaches
      `apply_parameter(name, value)`, which the node overrides.
    * `publisher()` / `subscription()` create endpoints with the standard QoS overrides; `start_stats()` the
      heartbeat on `stats_topic`.
    """

    PARAMS: ClassVar[ParamSpec] = {}
    RULES: ClassVar[Rules] = {}
    LIVE: ClassVar[Rules] = {}

    params: dict[str, Any]
    stats: StatsPublisher

    def setup_parameters(self) -> dict[str, Any]:
        node: Any = self
        values = declare_parameters(node, self.PARAMS, live=set(self.LIVE))
        check_parameters(node, values, {**self.RULES, **self.LIVE})
        self.check(values)
        self.params = values
        if self.LIVE:
            node.add_on_set_parameters_callback(self._validate_change)
            node.add_post_set_parameters_callback(self._apply_change)
        return values

    def check(self, values: dict[str, Any]) -> None:
        """Checks across parameters (raise ConfigError); runs at start-up and before a live change."""

    def apply_parameter(self, name: str, value: Any) -> None:
        """A live parameter changed (already validated)."""

    def _validate_change(self, changes: list[Parameter]) -> SetParametersResult:
        ours = {p.name: _plain(p.value, self.PARAMS[p.name][0]) for p in changes if p.name in self.LIVE}
        if not ours:
            return SetParametersResult(successful=True)
        try:
            check_parameters(self, ours, {k: v for k, v in self.LIVE.items() if k in ours})  # type: ignore[arg-type]
            self.check({**self.params, **ours})
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=f"{exc.problem}; {exc.fix}")
        return SetParametersResult(successful=True)

    def _apply_change(self, changes: list[Parameter]) -> None:
        for param in changes:
            if param.name in self.LIVE and hasattr(self, "params"):
                value = _plain(param.value, self.PARAMS[param.name][0])
                self.params[param.name] = value
                self.apply_parameter(param.name, value)
                node: Any = self
                node.get_logger().info(f"parameter {param.name} = {value!r} applied")

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile | int, **kwargs: Any) -> Any:
        return create_publisher(self, msg_type, topic, qos, **kwargs)  # type: ignore[arg-type]

    def subscription(
        self,
        msg_type: Any,
        topic: str,
        callback: Callable[[Any], None],
        qos: QoSProfile | int,
        configured: str | None = None,
    ) -> Any:
        stats = getattr(self, "stats", None)
        counters = stats.counters if isinstance(stats, StatsPublisher) else None
        return subscribe(self, msg_type, topic, callback, qos, counters=counters, configured=configured)  # type: ignore[arg-type]

    def start_stats(self, window: StatsWindow | None = None, **kwargs: Any) -> StatsPublisher:
        self.stats = StatsPublisher(self, self.params["stats_topic"], self.params["stats_period_s"], window, **kwargs)  # type: ignore[arg-type]
        return self.stats


def reliable(depth: int = 10) -> QoSProfile:
    return make_qos("reliable", depth)


def latest_wins() -> QoSProfile:
    """Sensor data (REP-2003): best effort, depth 1: a busy subscriber only ever sees the newest frame."""
    return make_qos("best_effort", 1)


# Longest a stop request (Ctrl-C, SIGTERM) waits before the spin loop sees it.
STOP_POLL_S = 0.2
# Longest a stopping node waits for subscribers to acknowledge its final stats message.
FINAL_STATS_ACK_S = 1.0
# Set by SIGINT/SIGTERM (install_stop_handlers); long waits inside a node (the detector's model build) poll it.
STOP_REQUESTED = threading.Event()


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """Start one node: clean Ctrl-C/SIGTERM, user errors as problem + fix, spin until `done_future` if any."""
    stop = install_stop_handlers()  # first: a stop request from here on is a clean stop
    faulthandler.enable()  # a crash (SIGSEGV in a C extension) leaves every thread's Python stack in the log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_opencv_threads()
    code = 0
    try:
        # Our own handlers, not rclpy's: rclpy's guard-condition wake-up was seen to miss a SIGTERM now and
        # then (the node hung until SIGKILL); a flag polled between bounded waits cannot be missed.
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO) as init:
            node = factory()
            # One thread: callbacks are short (the detector builds and infers on its own threads); a thread
            # pool would add a hand-off and GIL waits (up to 5 ms) to every message.
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


# One Ctrl-C in a terminal reaches every process of its group, and ros2 launch / ros-detect launch then forward
# their own SIGINT: a node sees the same request twice within moments. Below ros2 launch's SIGTERM escalation (5 s).
REPEAT_WINDOW_S = 3.0


def is_repeat(first: tuple[int, float] | None, signum: int, now: float) -> bool:
    """The same stop request delivered again (same signal, within REPEAT_WINDOW_S), not a second one."""
    return first is not None and first[0] == signum and now - first[1] < REPEAT_WINDOW_S


def install_stop_handlers(second: Callable[[], None] | None = None) -> threading.Event:
    """SIGINT/SIGTERM set the returned event, STOP_REQUESTED (the spin loop and long waits poll it).

    A second request (another signal, or the same one after REPEAT_WINDOW_S) means the clean shutdown is stuck:
    `second()` runs, by default ending the process.
    """
    STOP_REQUESTED.clear()
    first: list[tuple[int, float]] = []

    def on_signal(signum: int, frame: object) -> None:
        now = time.monotonic()
        if not STOP_REQUESTED.is_set():
            first[:] = [(signum, now)]
            STOP_REQUESTED.set()
        elif is_repeat(first[0] if first else None, signum, now):
            return
        elif second is not None:
            second()
        else:
            exit_now(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return STOP_REQUESTED


def wait_unless_stopped(done: threading.Event, cancel: threading.Event, poll_s: float = 0.1) -> bool:
    """Wait until `done` is set (True), or until a stop request or `cancel` (False); reacts within `poll_s`."""
    while not done.wait(poll_s):
        if cancel.is_set() or STOP_REQUESTED.is_set():
            return False
    return True


def exit_now(code: int) -> None:
    """End the node process without interpreter finalisation, everything being closed already.

    Finalisation joined the executor's worker threads (one may be mid-inference or mid-model-build) and
    garbage-collected torch: 5-10 s after SIGTERM on a loaded machine, long enough for ros2 launch to escalate
    to SIGKILL. A model build still running on its thread ends here; its cache entry is only ever renamed into
    place once complete (ros_detect/detection/backends/cache.py), so nothing half-written is left to load.
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

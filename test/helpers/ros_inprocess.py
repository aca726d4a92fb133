"""Real rclpy nodes in the test process: a private context whose executor spins on a thread, and clients
that do what `ros2 lifecycle set` and `ros2 param set` do (through the nodes' services)."""

from __future__ import annotations

import threading
from typing import Any

from helpers.ros import ros_env
from helpers.wait import wait_until

SERVICE_TIMEOUT_S = 120.0  # a model build blocks a configure call; generous for a loaded machine


class SpinningContext:
    """rclpy context + SingleThreadedExecutor spun on a daemon thread; nodes are closed on `close()`."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=int(ros_env()["ROS_DOMAIN_ID"]))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.nodes: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down under us
                return

    def add(self, node: Any) -> Any:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, name: str) -> Any:
        import rclpy

        return self.add(rclpy.create_node(name, context=self.ctx))

    def close(self) -> None:
        import rclpy

        from ros_detect.nodes.common import close_node

        self._stop.set()
        self._thread.join(timeout=10)
        self.executor.shutdown(timeout_sec=2)
        for node in reversed(self.nodes):
            close_node(node)
        rclpy.shutdown(context=self.ctx)


def call(client: Any, request: Any, timeout_s: float = SERVICE_TIMEOUT_S) -> Any:
    """One service call answered by the spinning executor (the caller's node must be spun by it too)."""
    assert client.wait_for_service(timeout_sec=timeout_s), f"no service {client.service_name}"
    future = client.call_async(request)
    assert wait_until(future.done, timeout_s), f"no answer from {client.service_name}"
    return future.result()


class LifecycleClient:
    """`ros2 lifecycle get|set <node>` through the node's services."""

    def __init__(self, caller: Any, node_name: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.change = caller.create_client(ChangeState, f"{node_name}/change_state")
        self.get = caller.create_client(GetState, f"{node_name}/get_state")

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return call(self.get, GetState.Request()).current_state.label

    def set(self, transition: str) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        return call(self.change, ChangeState.Request(transition=Transition(label=transition))).success


def set_parameter(caller: Any, node_name: str, name: str, value: Any) -> Any:
    """`ros2 param set <node> <name> <value>`: the SetParametersResult (successful, reason)."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    client = caller.create_client(SetParameters, f"{node_name}/set_parameters")
    try:
        response = call(client, SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()]))
    finally:
        caller.destroy_client(client)
    return response.results[0]

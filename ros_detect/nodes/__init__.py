"""Thin rclpy nodes over ros_detect's pure packages. Importing this package does not import rclpy.

Convention every node module follows (the launcher `ros-detect launch` and the launch files rely on it):

* Module `ros_detect/nodes/<name>.py` (name = executable = default node name, listed in setup.py
  console_scripts) defines one `rclpy.node.Node` subclass, e.g. `VideoSourceNode`, and `main(args=None)`.
* The class is constructible in-process with only keyword arguments that are forwarded to
  `rclpy.node.Node`:  `VideoSourceNode(namespace="cam1", parameter_overrides=[Parameter(...)], context=ctx)`.
  `node_name` defaults to the module name. Every setting is a declared, typed parameter; overrides for
  undeclared names are ignored, so one parameter file can hold every node's section.
* Parameter files use the ROS format with node-name sections matched in any namespace:
  `/**/detector: {ros__parameters: {...}}` (also `detector:` and `/**:` for all nodes); see config/*.yaml and
  ros_detect/graph/params.py, which the in-process launcher uses to read them the way rcl does.
* Topics are relative names and also parameters (`image_topic`, `detections_topic`, `main_person_topic`,
  `stats_topic`), so a namespace or a remap moves the whole graph.
* A node that can finish on its own (a video source at the end of its file) exposes `done_future`
  (an `rclpy.task.Future`); `main()` spins until it completes, so `ros2 launch` can shut down on that exit.
  A node whose work runs off the executor (the detector's inference thread) fails that future with the
  RosDetectError that makes every frame fail, and `main()` reports it.
* Callbacks are short (a single-threaded executor runs them); on stop, a node sends its final stats.
* `main()` uses `ros_detect.nodes.common.run_node`: clean start, a log line with the effective parameters,
  a clean exit on Ctrl-C/SIGTERM (no traceback), and RosDetectError printed as problem + fix (exit 2).

Topics: `image` (sensor_msgs/Image bgr8 427x240, header.stamp = capture time, header.frame_id = source id),
`detections` / `main_person` (ros_detect_interfaces/Detections and MainPerson, one per frame; the JSON
documents of ros_detect/schemas for MQTT/Foxglove/files come from ros_detect/nodes/messages.py),
`stats` (std_msgs/String, `ros_detect/stats@1` about once a second per node, built by ros_detect/graph/stats.py).
"""

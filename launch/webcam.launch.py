"""Live graph: camera_source -> detector -> main_person -> mqtt_bridge + foxglove_bridge (both on by default).

    ros2 launch ros_detect webcam.launch.py input:=0            # or /dev/video2, http://host:8080/stream.mjpg
    ros2 launch ros_detect webcam.launch.py input:=rtsp://cam/stream namespace:=door mqtt:=false

Latest frame wins (sensor-data QoS on images, stale frames dropped and counted); the camera source
reconnects when the device or stream disappears. Parameters: config/webcam.yaml (config:=other.yaml).
Without ROS installed, `ros-detect launch webcam --source INPUT` runs the same nodes.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    config = arg("config")
    common = {"package": "ros_detect", "namespace": arg("namespace"), "output": "screen", "emulate_tty": True}
    return LaunchDescription(
        [
            DeclareLaunchArgument("input", default_value="0", description="camera index, /dev/videoN or stream URL"),
            DeclareLaunchArgument(
                "config",
                default_value=PathJoinSubstitution([FindPackageShare("ros_detect"), "config", "webcam.yaml"]),
                description="ROS 2 parameter file for all nodes",
            ),
            DeclareLaunchArgument("model", default_value="fasterrcnn_resnet50_fpn", description="detector model"),
            DeclareLaunchArgument("precision", default_value="openvino-int8", description="precision scheme"),
            DeclareLaunchArgument("weights", default_value="auto", description="auto | DEFAULT | none | file.pth"),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the whole graph"),
            DeclareLaunchArgument("mqtt", default_value="true", description="start mqtt_bridge"),
            DeclareLaunchArgument("foxglove", default_value="true", description="start foxglove_bridge"),
            Node(
                executable="camera_source", name="camera_source", parameters=[config, {"input": arg("input")}], **common
            ),
            Node(
                executable="detector",
                name="detector",
                parameters=[config, {"model": arg("model"), "precision": arg("precision"), "weights": arg("weights")}],
                **common,
            ),
            Node(executable="main_person", name="main_person", parameters=[config], **common),
            Node(
                executable="mqtt_bridge",
                name="mqtt_bridge",
                parameters=[config],
                condition=IfCondition(arg("mqtt")),
                **common,
            ),
            Node(
                executable="foxglove_bridge",
                name="foxglove_bridge",
                parameters=[config],
                condition=IfCondition(arg("foxglove")),
                **common,
            ),
        ]
    )

"""Video-file graph: video_source -> detector -> main_person (+ foxglove_bridge, optional mqtt_bridge).

    ros2 launch ros_detect video.launch.py input:=/path/clip.mp4 [namespace:=cam1] [mqtt:=true] [foxglove:=false]

Every frame is processed (none dropped); the launch shuts down when video_source has published the last
frame and every result came back. Parameters: config/video.yaml (config:=other.yaml); launch arguments win.
Without ROS installed, `ros-detect launch video INPUT` runs the same nodes with the same parameter file.
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, RegisterEventHandler
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    config = arg("config")
    common = {"package": "ros_detect", "namespace": arg("namespace"), "output": "screen", "emulate_tty": True}
    source = Node(
        executable="video_source",
        name="video_source",
        parameters=[config, {"input": arg("input"), "rate": arg("rate")}],
        **common,
    )
    detector = Node(
        executable="detector",
        name="detector",
        parameters=[config, {"model": arg("model"), "precision": arg("precision"), "weights": arg("weights")}],
        **common,
    )
    main_person = Node(executable="main_person", name="main_person", parameters=[config], **common)
    mqtt = Node(
        executable="mqtt_bridge", name="mqtt_bridge", parameters=[config], condition=IfCondition(arg("mqtt")), **common
    )
    foxglove = Node(
        executable="foxglove_bridge",
        name="foxglove_bridge",
        parameters=[config],
        condition=IfCondition(arg("foxglove")),
        **common,
    )
    finished = RegisterEventHandler(
        OnProcessExit(
            target_action=source,
            on_exit=[
                LogInfo(msg="video_source finished: every frame processed; shutting down"),
                EmitEvent(event=Shutdown(reason="video finished")),
            ],
        )
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("input", description="video file to process (every frame)"),
            DeclareLaunchArgument(
                "config",
                default_value=PathJoinSubstitution([FindPackageShare("ros_detect"), "config", "video.yaml"]),
                description="ROS 2 parameter file for all nodes",
            ),
            DeclareLaunchArgument("model", default_value="fasterrcnn_resnet50_fpn", description="detector model"),
            DeclareLaunchArgument("precision", default_value="openvino-int8", description="precision scheme"),
            DeclareLaunchArgument("weights", default_value="auto", description="auto | DEFAULT | none | file.pth"),
            DeclareLaunchArgument("rate", default_value="0.0", description="0 = as fast as possible, 1 = real time"),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the whole graph"),
            DeclareLaunchArgument("mqtt", default_value="false", description="start mqtt_bridge"),
            DeclareLaunchArgument("foxglove", default_value="true", description="start foxglove_bridge"),
            source,
            detector,
            main_person,
            mqtt,
            foxglove,
            finished,
        ]
    )

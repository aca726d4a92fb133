"""Video-file graph: video_source -> detector -> main_person (+ foxglove_bridge, optional mqtt_bridge).

    ros2 launch ros_detect video.launch.py input:=/path/clip.mp4 [rate:=1] [namespace:=cam1] [mqtt:=true]
    ros2 launch ros_detect video.launch.py input:=clip.mp4 weights:=none precision:=fp32 foxglove:=false
    ros2 launch ros_detect video.launch.py input:=clip.mp4 config:=mine.yaml   # only what you change

Every frame is processed (none dropped); the launch ends with 0 when video_source has published the last
frame and every result came back, and with 1 when any node fails (missing input, bad parameter, crash).
Parameters: config/common.yaml + config/video.yaml, then config:=, then the arguments given here.
`ros2 launch ros_detect video.launch.py --show-args` lists the arguments; the same graph without ROS
installed: `ros-detect launch video INPUT`. Defined once for both launch files in ros_detect/graph/ros_launch.py.
"""

from launch import LaunchDescription
from ros_detect.graph.ros_launch import generate


def generate_launch_description() -> LaunchDescription:
    return generate("video")

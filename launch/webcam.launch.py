"""Live graph: camera_source -> detector -> main_person -> mqtt_bridge + foxglove_bridge (both on by default).

    ros2 launch ros_detect webcam.launch.py                      # camera 0 (config/webcam.yaml)
    ros2 launch ros_detect webcam.launch.py input:=/dev/video2   # or input:=1, input:=http://host:8080/stream.mjpg
    ros2 launch ros_detect webcam.launch.py input:=rtsp://cam/stream namespace:=door mqtt:=false
    ros2 launch ros_detect webcam.launch.py "inputs:=[0, door=rtsp://cam/stream]"   # several cameras, one detector

Latest frame wins (sensor-data QoS on images, stale frames dropped and counted); the camera source keeps
retrying while the camera is unplugged or the stream is down (stop it with Ctrl-C). The launch ends with 1
when any node fails (bad parameter, crash). Parameters: config/common.yaml + config/webcam.yaml, then
config:=, then the arguments given here. `--show-args` lists them; the same graph without ROS installed:
`ros-detect launch webcam --source INPUT`. Defined once for both files in ros_detect/graph/ros_launch.py.
"""

from launch import LaunchDescription
from ros_detect.graph.ros_launch import generate


def generate_launch_description() -> LaunchDescription:
    return generate("webcam")

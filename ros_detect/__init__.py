"""ros_detect: main-person detection for ROS 2, MQTT and Foxglove."""

__version__ = "0.1.0"

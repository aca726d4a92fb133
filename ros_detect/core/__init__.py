"""Pure-Python core of ros_detect. Nothing in this package imports rclpy."""

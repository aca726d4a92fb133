"""Subcommands of the `ros-detect` CLI (see ros_detect/cli.py)."""

"""ament_python package definition; also installable with pip (see docs/install.md)."""

import ast
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "ros_detect"
HERE = Path(__file__).resolve().parent


def node_console_scripts() -> list[str]:
    """`<node> = ros_detect.nodes.<node>:main` for the one node list, ros_detect/graph/plan.py NODES.

    Read as a literal, not imported: the package's own dependencies are not installed while it is built.
    """
    tree = ast.parse((HERE / PACKAGE / "graph" / "plan.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "NODES":
            nodes = ast.literal_eval(node.value)
            return [f"{name} = {module}:main" for name, (module, _) in nodes.items()]
    raise RuntimeError("ros_detect/graph/plan.py defines no NODES")


# Runtime deps for pip users. colcon/ament users get rclpy, messages and what has a rosdep key from their
# ROS install (package.xml); colcon does not pip-install the rest: docs/install.md gives the one pip line.
CORE = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "av>=14",  # H.264 writer that keeps the odd 427-pixel width
    "torch==2.14.1",
    "torchvision==0.29.1",
    "tqdm>=4.60",
    "jsonschema>=4.0",
    "PyYAML>=6.0",
    "psutil>=5.9",
]
EXTRAS = {
    # ROS 2 Kilted from PyPI, for machines without a ROS install.
    "ros": [
        "ros-kilted-rclpy",
        "ros-kilted-rmw-fastrtps-cpp",
        "ros-kilted-std-msgs",
        "ros-kilted-sensor-msgs",
        "ros-kilted-visualization-msgs",
        # Build ros_detect_interfaces (scripts/build_interfaces.sh); the last five are dependencies
        # the wheels forget to declare.
        "ros-kilted-ament-cmake",
        "ros-kilted-rosidl-default-generators",
        "ros-kilted-ament-cmake-include-directories",
        "ros-kilted-rosidl-core-generators",
        "ros-kilted-ament-cmake-ros-core",
        "ros-kilted-ament-package",
        "catkin-pkg",
    ],
    "mqtt": ["paho-mqtt>=2.0", "amqtt==0.12.1"],
    "web": ["foxglove-sdk>=0.30,<0.31"],
    "bag": ["rosbags>=0.11,<0.12"],
    "quant": ["onnx>=1.16", "onnxruntime>=1.20", "openvino>=2025.0", "nncf>=2.14", "torchao"],
    "eval": ["pycocotools>=2.0.8", "matplotlib>=3.8"],
    "report": ["nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "matplotlib>=3.8"],
    # markdown-it-py: test_repository.py reads the documentation's links as a Markdown renderer does
    "dev": ["pytest>=8.0", "pytest-timeout>=2.3", "ruff>=0.6", "websockets>=13", "protobuf>=4.21", "markdown-it-py>=3"],
}
EXTRAS["all"] = sorted({dep for name, deps in EXTRAS.items() if name != "dev" for dep in deps})

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["schemas/*.json", "web/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    python_requires=">=3.10",
    install_requires=["setuptools", *CORE],
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer="ros_detect developers",
    maintainer_email="dev@ros-detect.invalid",
    description="Main-person detection (Faster R-CNN) for ROS 2 with MQTT and Foxglove outputs.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "ros-detect = ros_detect.cli:main",
            *node_console_scripts(),
        ],
    },
)

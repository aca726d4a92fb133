"""Which processes are node programs (and get the quiet-stop guard and faulthandler before their imports)."""

from __future__ import annotations

import pytest

from ros_detect.graph.plan import NODES
from ros_detect.nodes.startup import NODE_PROGRAMS, node_program

pytestmark = pytest.mark.unit
PY = "/venv/bin/python"


@pytest.mark.parametrize(
    ("argv", "orig_argv", "expected"),
    [
        (["/ws/lib/ros_detect/detector", "--ros-args"], [PY, "/ws/lib/ros_detect/detector"], "detector"),
        (["/venv/bin/main_person"], [PY, "/venv/bin/main_person"], "main_person"),
        (["-m"], [PY, "-X", "importtime", "-m", "ros_detect.nodes.video_source", "--ros-args"], "video_source"),
        (["-c"], [PY, "-c", "import sys; from ros_detect.nodes.detector import main; sys.exit(main())"], "detector"),
        # library use: left alone
        (["/venv/bin/pytest", "test"], [PY, "/venv/bin/pytest"], None),
        (["/venv/bin/ros-detect", "launch"], [PY, "/venv/bin/ros-detect"], None),
        (["-c"], [PY, "-c", "from ros_detect.nodes.common import run_node"], None),
        (["-m"], [PY, "-m", "ros_detect.cli"], None),
        (["/usr/bin/common"], [PY, "/usr/bin/common"], None),  # a module of the package, not a node
        (["-m"], [PY, "-m", "ros_detect.nodes.fake_pipeline"], None),  # a test feed with its own signal handling
        ([""], [PY], None),  # interactive
    ],
)
def test_node_program(argv: list[str], orig_argv: list[str], expected: str | None) -> None:
    assert node_program(argv, orig_argv) == expected


def test_the_guarded_programs_are_the_graph_nodes() -> None:
    assert set(NODE_PROGRAMS) == set(NODES)

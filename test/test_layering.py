"""The package's layering: pure packages never reach up into ROS, nodes or commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "ros_detect"
# Thin layers on top: ROS nodes and the CLI's subcommands. Everything else is the pure core.
TOP_LAYERS = {"nodes", "commands"}
FORBIDDEN_IN_CORE = ("rclpy", "ros_detect.nodes", "ros_detect.commands", "ros_detect.cli")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):  # walks function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _core_modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in TOP_LAYERS and p.name != "cli.py"
    )


def test_core_packages_exist_and_are_found():
    packages = {p.relative_to(PACKAGE).parts[0] for p in _core_modules() if len(p.relative_to(PACKAGE).parts) > 1}
    assert {"detection", "selection", "media", "pipeline", "graph", "mqtt", "foxglove", "bench"} <= packages


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_ros_node_or_command(path: Path):
    bad = sorted(m for m in _imported_modules(path) if m.startswith(FORBIDDEN_IN_CORE))
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}: keep the pure packages free of rclpy and top layers"


@pytest.mark.parametrize("path", sorted((PACKAGE / "nodes").glob("*.py")), ids=lambda p: p.name)
def test_nodes_do_not_import_commands(path: Path):
    bad = sorted(m for m in _imported_modules(path) if m.startswith(("ros_detect.commands", "ros_detect.cli")))
    assert not bad, f"nodes/{path.name} imports {bad}"

"""The first moments of a node process: a stop request while it imports ends it quietly; crashes leave a stack.

A node program (`ros2 run ros_detect detector`, the `detector` console script, `python -m
ros_detect.nodes.detector`, or the launcher's `python -c "from ros_detect.nodes.detector import main; ..."`)
imports rclpy, numpy and its node module before `main()` runs: a second or more on a loaded machine. Python's
own Ctrl-C handling would print a `KeyboardInterrupt` traceback from the middle of an import, so this module,
run by `ros_detect/nodes/__init__.py` before any of those imports, answers SIGINT/SIGTERM with an immediate,
quiet exit 0 (nothing has started yet, so there is nothing to close). `run_node` then installs the handlers
of the running node. A library user importing `ros_detect.nodes` (tests, the in-process launcher) is left alone.

Only the standard library here: this runs before anything else is imported.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import threading
from pathlib import Path

# The node programs (setup.py console_scripts; ros_detect.graph.plan.NODES, which a test keeps in step). Only
# the standard library may be imported here, so the names are listed, not looked up.
NODE_PROGRAMS = ("video_source", "camera_source", "detector", "main_person", "mqtt_bridge", "foxglove_bridge")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def is_node_module(name: str) -> bool:
    return name in NODE_PROGRAMS


def node_program(argv: list[str] | None = None, orig_argv: list[str] | None = None) -> str | None:
    """The node this process runs as its program, or None when ros_detect.nodes is imported as a library."""
    argv = sys.argv if argv is None else argv
    orig_argv = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    first = argv[0] if argv else ""
    if first not in ("-m", "-c"):  # a script: the console script / ros2 run executable is named after the node
        name = Path(first).name
        return name if first and is_node_module(name) else None
    # `python [options] -m ros_detect.nodes.X` (argv[0] is "-m" while the package imports) or `python -c CODE`
    if first not in orig_argv[1:] or orig_argv.index(first, 1) + 1 >= len(orig_argv):
        return None
    target = orig_argv[orig_argv.index(first, 1) + 1]
    pattern = r"ros_detect\.nodes\.(\w+)$" if first == "-m" else r"from ros_detect\.nodes\.(\w+) import main\b"
    match = re.search(pattern, target)
    return match.group(1) if match and is_node_module(match.group(1)) else None


def guard_node_program() -> bool:
    """In a node program: crash stacks on (faulthandler) and a quiet exit on SIGINT/SIGTERM until run_node."""
    if threading.current_thread() is not threading.main_thread() or node_program() is None:
        return False
    faulthandler.enable()  # a SIGSEGV/SIGABRT prints every thread's Python stack to stderr (the node's log)
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(sig, _exit_quietly)
    return True


def _exit_quietly(signum: int, frame: object) -> None:
    os._exit(0)  # nothing started yet: no stats to send, no files to close

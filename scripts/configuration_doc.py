#!/usr/bin/env python3
"""Write the generated tables of docs/configuration.md from the code, so the page cannot drift.

python scripts/configuration_doc.py           # rewrite the tables in place
python scripts/configuration_doc.py --check   # exit 1 naming the stale tables (test_launch_files runs this)

Sources: every node's declared PARAMS (type, meaning; defaults as config/ deploys them), the launch
arguments of ros_detect/graph/plan.py and the argparse options of `ros-detect launch`. A table sits between
`<!-- generated: NAME -->` and `<!-- end generated -->`; the prose around it is written by hand.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
TYPES = {bool: "bool", int: "int", float: "double", str: "string"}


def _type(default: Any) -> str:
    if isinstance(default, list):
        return f"{TYPES[type(default[0]) if default else str]}[]"
    return TYPES[type(default)]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    if isinstance(value, list):
        return f"`[{', '.join(map(str, value))}]`"
    return f"`{value}`"


def _changes(module: Any, name: str) -> str:
    """When a new value takes effect: a node's LIVE parameters apply at `ros2 param set` (docs/nodes.md); the
    others are read-only."""
    return "live" if name in getattr(module, "LIVE", {}) else "at start-up"


def node_table(node: str) -> str:
    from ros_detect.graph.plan import NODES, deployed_defaults

    module = importlib.import_module(NODES[node][0])
    deployed = deployed_defaults(node)
    rows = ["| parameter | type | default | takes effect | meaning |", "|---|---|---|---|---|"]
    for name, (default, meaning) in module.PARAMS.items():
        where = " (config)" if name in deployed else ""
        rows.append(
            f"| `{name}` | {_type(default)} | {_value(default)}{where} | {_changes(module, name)} | {_cell(meaning)} |"
        )
    return "\n".join(rows)


def launch_arguments_table(mode: str) -> str:
    from ros_detect.graph.plan import launch_arguments

    rows = ["| argument | sets | default | meaning |", "|---|---|---|---|"]
    for arg in launch_arguments(mode):
        sets = f"`{arg.node}.{arg.param}` ({TYPES[arg.value_type]})" if arg.node else "—"
        default = f"`{arg.default}`" if arg.default else "unset"
        rows.append(f"| `{arg.name}` | {sets} | {default} | {_cell(arg.description)} |")
    return "\n".join(rows)


def launcher_options_table() -> str:
    from ros_detect.commands import launch

    parser = argparse.ArgumentParser(prog="ros-detect launch")
    launch.add_arguments(parser)
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in parser._actions:  # argparse keeps no public list of its arguments
        if isinstance(action, argparse._HelpAction):
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest.upper()}`"
        unset = action.default is None or action.default is False or action.default == []
        default = "" if unset or action.default == argparse.SUPPRESS else _value(action.default)
        choices = " (" + " \\| ".join(map(str, action.choices)) + ")" if action.choices else ""
        rows.append(f"| {names} | {default} | {_cell(action.help or '')}{choices} |")
    return "\n".join(rows)


def tables() -> dict[str, str]:
    from ros_detect.graph.plan import MODES, NODES

    out = {f"node-{node}": node_table(node) for node in NODES}
    out.update({f"launch-{mode}": launch_arguments_table(mode) for mode in MODES})
    out["ros-detect-launch"] = launcher_options_table()
    return out


def render(text: str) -> tuple[str, list[str]]:
    """`text` with every generated block rewritten, and the names of the blocks that changed."""
    generated = tables()
    missing = set(generated) - {m.group("name") for m in BLOCK.finditer(text)}
    if missing:
        raise SystemExit(f"{DOC.relative_to(ROOT)} has no block for {sorted(missing)}")
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        body = generated[name] + "\n"
        if body != match.group("body"):
            changed.append(name)
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report stale tables (exit 1)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    text, changed = render(DOC.read_text())
    if args.check:
        if changed:
            print(f"stale in {DOC.relative_to(ROOT)}: {changed}; run scripts/configuration_doc.py", file=sys.stderr)
        return 1 if changed else 0
    DOC.write_text(text)
    print(f"{DOC.relative_to(ROOT)}: {len(changed)} table(s) updated {changed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

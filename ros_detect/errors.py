"""Errors that carry a one-line problem and the fix, for CLI and node start-up messages."""

from __future__ import annotations

import sys
from typing import TextIO


class RosDetectError(Exception):
    """A user-facing error: `problem` says what is wrong, `fix` says what to do about it."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- {fix}" if fix else problem)


class InputError(RosDetectError):
    """The input video, camera or stream cannot be used."""


class ConfigError(RosDetectError):
    """A parameter or option has a wrong value."""


class WeightsError(RosDetectError):
    """Model weights cannot be found, downloaded or loaded."""


class OutputError(RosDetectError):
    """Results cannot be written."""


def article(word: str) -> str:
    """`word` with its indefinite article, for messages like "expected an int"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def print_problem(problem: str, fix: str = "", file: TextIO | None = None) -> None:
    """How a user error reaches a terminal (CLI and nodes alike): `error: PROBLEM`, then `  fix: FIX`."""
    out = sys.stderr if file is None else file
    print(f"error: {problem}", file=out)
    if fix:
        print(f"  fix: {fix}", file=out)

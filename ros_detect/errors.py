"""Errors that carry a one-line problem and the fix, for CLI and node start-up messages."""


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

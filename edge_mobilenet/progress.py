"""The one shape of progress and log callbacks in the library: library functions
take them, the command line passes a progress bar or a printer.

    progress(done, total, description)   done of total steps; description: the step under way
    log(line)                            one line for people
"""
from collections.abc import Callable

Progress = Callable[[int, int, str], None]
Log = Callable[[str], None]


def no_progress(done: int, total: int, description: str) -> None:
    pass


def no_log(line: str) -> None:
    pass

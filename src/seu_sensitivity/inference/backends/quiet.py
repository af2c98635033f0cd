"""Keep a sampler's console chatter off the user's page, and keep it for errors.

PyStan prints its build and sampling progress and stanc's pedantic warnings
on ``sys.stderr``, and the C++ compiler writes straight to file descriptors
1 and 2. In a notebook (Quarto, Jupyter) all of it lands in the cell's
output; in a worker process it lands in the terminal of whoever started the
run. :func:`captured_console` sends both levels to a buffer for the
duration of a build or a fit. When the block raises, what was captured is
attached to the exception as a note, so nothing a user needs is lost.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["captured_console", "NOTE_LINES"]

#: lines of captured output attached to an exception raised inside the block
NOTE_LINES = 40


class CapturedConsole:
    """What a :func:`captured_console` block printed (``text`` is complete once the block ends)."""

    def __init__(self) -> None:
        self.python = io.StringIO()
        self.text = ""


@contextlib.contextmanager
def captured_console() -> Iterator[CapturedConsole]:
    """Capture ``sys.stdout``/``sys.stderr`` and file descriptors 1 and 2 while the block runs.

    >>> with captured_console() as console:
    ...     print("Building: found in cache, done.", file=sys.stderr)
    ...     _ = os.write(2, b"g++ warning\\n")
    >>> "Building" in console.text and "g++ warning" in console.text
    True
    >>> try:
    ...     with captured_console():
    ...         print("Rejecting initial value")
    ...         raise RuntimeError("Initialization failed.")
    ... except RuntimeError as error:
    ...     print(error.__notes__[0].splitlines()[-1])
    Rejecting initial value
    """
    console = CapturedConsole()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = {fd: _dup(fd) for fd in (1, 2)}
        try:
            for fd, copy in saved.items():
                if copy is not None:
                    os.dup2(sink.fileno(), fd)
            with contextlib.redirect_stdout(console.python), contextlib.redirect_stderr(console.python):
                yield console
        except BaseException as error:
            console.text = _collect(console, sink, saved)
            tail = "\n".join(console.text.strip().splitlines()[-NOTE_LINES:])
            if tail:
                error.add_note(f"console output before the error:\n{tail}")
            raise
        else:
            console.text = _collect(console, sink, saved)


def _dup(fd: int) -> int | None:
    try:
        return os.dup(fd)
    except OSError:  # no such descriptor (a daemon without a terminal): nothing to capture there
        return None


def _collect(console: CapturedConsole, sink, saved: dict[int, int | None]) -> str:
    """Restore the descriptors and return everything captured, Python level first."""
    for fd, copy in saved.items():
        if copy is not None:
            os.dup2(copy, fd)
            os.close(copy)
    sink.seek(0)
    return console.python.getvalue() + sink.read().decode("utf-8", errors="replace")

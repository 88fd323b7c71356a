"""What long steps tell the person waiting: one line per event, and tqdm bars with a rate and an ETA.

Steps take a `progress` callable (one message a call). The command line passes a `Progress`, which
also draws bars on a terminal: the export's stages, the run's cases with the backend at work, the
judging. Bars stay silent when stderr is not a terminal (CI logs, pipes) and under `-q`; a plain
callable (the API's `progress=print`) gets the messages only. A bar writes to its own copy of the
terminal's descriptor and redraws itself every second, so it keeps counting while a converter runs
with its own output captured (`harness.quiet`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

from harness.text import printable

if TYPE_CHECKING:
    from tqdm import tqdm

Say = Callable[[str], None]
#: Seconds between redraws while a step runs without updating its bar.
REDRAW = 1.0
#: Seconds between a long loop's lines at most, besides one every twentieth of it (a run of 10**12 cases is a
#: day between twentieths).
LINE_SECONDS = 30.0


class Paced:
    """When a loop of `count` steps says a line: every twentieth of them, the last, and once `seconds` (default
    `LINE_SECONDS`) have passed since its last line; a loop of one step says none."""

    def __init__(self, count: int, seconds: float | None = None):
        self.count, self.every = count, max(1, count // 20)
        self.seconds = LINE_SECONDS if seconds is None else seconds
        self.last = time.perf_counter()

    def due(self, done: int) -> bool:
        """Whether to say a line now that `done` steps are done."""
        now = time.perf_counter()
        if self.count > 1 and (done % self.every == 0 or done >= self.count or now - self.last >= self.seconds):
            self.last = now
            return True
        return False


class Progress:
    """`progress(message)` prints `[harness] message` unless quiet; `bar(...)` draws on a terminal."""

    def __init__(self, verbosity: int = 1, stream: TextIO | None = None):
        self.verbosity = verbosity
        self.stream = stream if stream is not None else sys.stderr
        self.drawn: list[tqdm] = []  # the bars on screen, cleared while a message is printed above them

    def __call__(self, message: str) -> None:
        if self.verbosity <= 0:
            return
        if not self.drawn:
            print(f"[harness] {printable(message)}", file=self.stream, flush=True)  # a device's name, escaped
            return
        with self.drawn[0].get_lock():
            for shown in self.drawn:
                shown.clear(nolock=True)
            print(f"[harness] {printable(message)}", file=self.stream, flush=True)
            for shown in self.drawn:
                shown.refresh(nolock=True)

    @contextlib.contextmanager
    def bar(self, total: int, desc: str, unit: str) -> Iterator[tqdm]:
        terminal = self.verbosity > 0 and _isatty(self.stream)
        if not terminal:  # nothing drawn: tqdm is not even imported (saved results are judged with numpy alone)
            yield NoBar()
            return
        from tqdm import tqdm

        out = _own_copy(self.stream)
        with tqdm(total=total, desc=desc, unit=unit, file=out or self.stream, miniters=1,
                  dynamic_ncols=_width(out) > 0, ncols=None if _width(out) > 0 else 100, leave=True) as shown:
            stop = threading.Event()
            redraw = threading.Thread(target=_redraw, args=(shown, stop), daemon=True)
            redraw.start()
            self.drawn.append(shown)
            try:
                yield shown
            finally:
                stop.set()
                redraw.join()
                self.drawn.remove(shown)
        if out is not None:
            out.close()


class NoBar:
    """A bar that draws nothing, with the methods the steps call on one."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str = "") -> None:
        pass

    def refresh(self) -> None:
        pass


def bar(progress: Say | None, total: int, desc: str, unit: str = "it"):
    """`progress`'s bar when it draws them, else one that draws nothing (same methods)."""
    if isinstance(progress, Progress):
        return progress.bar(total, desc, unit)
    return contextlib.nullcontext(NoBar())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream: TextIO | None) -> int:
    """The terminal's columns, or 0 where it reports none (a pty nobody sized): then bars take 100."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _own_copy(stream: TextIO) -> TextIO | None:
    """A second file on `stream`'s descriptor: what is written there is not captured with the first."""
    try:
        return os.fdopen(os.dup(stream.fileno()), "w", buffering=1, encoding=getattr(stream, "encoding", None))
    except (AttributeError, OSError, ValueError):
        return None


def _redraw(shown: tqdm, stop: threading.Event) -> None:
    while not stop.wait(REDRAW):
        shown.refresh()

"""The harness owns its output: converters' chatter is captured, and shown only on failure.

coremltools draws progress bars, torch's exporters log and print (some from native code),
so capture happens at the file-descriptor level as well as in Python's streams and logging.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """`text` without terminal colour codes."""
    return _ANSI.sub("", text)


@contextlib.contextmanager
def captured() -> Iterator[Callable[[], str]]:
    """Silence stdout, stderr and logging inside; yield a function returning what was said."""
    buffer = tempfile.TemporaryFile()  # noqa: SIM115 -- closed through `stream` below
    stream = io.TextIOWrapper(buffer, encoding="utf-8", errors="replace", write_through=True)
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    saved = []
    for fd in (1, 2):
        try:
            saved.append((fd, os.dup(fd)))
            os.dup2(buffer.fileno(), fd)
        except OSError:  # no such descriptor (an embedding host): Python-level capture only
            pass
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    # torch's trace logger overrides isEnabledFor to ignore logging.disable: switch loggers off too.
    loggers = [logging.root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    were = [(lg, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.disabled = True

    def said() -> str:
        stream.flush()
        buffer.seek(0)
        text = buffer.read().decode("utf-8", errors="replace")
        buffer.seek(0, os.SEEK_END)
        return plain(text.replace("\r", "\n"))

    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield said
    finally:
        logging.disable(disabled)
        for lg, was in were:
            lg.disabled = was
        with contextlib.suppress(Exception):
            stream.flush()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        stream.close()


def tail(text: str, lines: int = 20) -> str:
    """The last non-empty lines of captured output."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


#: What coremltools probes for at import (`coremltools._deps`) to offer converters the harness never calls
#: through it: scikit-learn's, torchao's quantized ops, ExecuTorch's EXIR frontend (the harness hands ExecuTorch's
#: CoreML partitioner edge programs, which need none of it). With the executorch extra installed the probes
#: import all three, 5-10 s in every process that converts or reads a CoreML model.
UNUSED_PROBES = ("executorch", "torchao", "sklearn")


def imported(name: str):
    """The module `name`, imported with its import-time warnings ignored: ExecuTorch warns as it loads
    (DeprecationWarning, ExperimentalWarning), which a suite run under `-W error` would turn into a failure of
    the program being loaded."""
    import importlib
    import warnings

    if name in sys.modules:
        return sys.modules[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def coremltools():
    """coremltools, imported with its import-time chatter captured (off macOS it logs that its
    native runtime is missing, and that this torch is untested; the coreml backend says the
    first itself, once, with its reason), and without the probes it does not need here. A probed
    package already imported (a model that uses torchao) stays visible to it."""
    import sys

    if "coremltools" not in sys.modules:
        hidden = [name for name in UNUSED_PROBES if name not in sys.modules]
        with captured():
            sys.modules.update(dict.fromkeys(hidden))  # None: `import name` raises ImportError
            try:
                import coremltools  # noqa: F401
            finally:
                for name in hidden:
                    if name in sys.modules and sys.modules[name] is None:
                        del sys.modules[name]
    return sys.modules["coremltools"]

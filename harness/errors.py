"""One exception class per broken rule, all under `HarnessError`."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """The caller named something that does not exist (a model, a backend, a precision)."""


class ExportError(HarnessError):
    """An export stage failed; `stage` names it (e.g. 'onnx', 'coreml-fp16')."""

    def __init__(self, stage: str, reason: str, output: str = ""):
        super().__init__(f"export stage {stage!r} failed: {reason}")
        self.stage = stage
        self.reason = reason
        self.output = output  # what the converter printed and said, for the user to read


class BackendUnavailable(HarnessError):
    """A backend cannot run on this machine; the message says why."""


class LockTimeout(HarnessError):
    """Another process held a folder's lock for longer than we wait; `folder` and `pid` (when known) name it."""

    def __init__(self, message: str, folder, pid: int | None = None):
        super().__init__(message)
        self.folder = folder
        self.pid = pid

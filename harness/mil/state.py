"""State buffers of a stateful program (`ct.StateType`, iOS18): Core ML's `MLState`, kept across runs.

A program declares its states as inputs of type `state<tensor>`; read_state copies a buffer out
and write_state replaces it. Buffers start as zeros (Core ML's `makeState()` zero-fills them) and
keep their declared dtype (fp16: coremltools accepts no other) under every precision profile: they
are memory the app can read and write between predictions, like the program's inputs and outputs.
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError
from harness.mil.program import NUMPY_DTYPES, TensorType


class StateError(HarnessError):
    """A state was used in a way its program does not declare (a name, a shape, another program)."""


class Buffer:
    """One state buffer: its declared type and its current value."""

    __slots__ = ("name", "dtype", "shape", "value")

    def __init__(self, name: str, ttype: TensorType):
        if ttype.shape is None or any(d is None for d in ttype.shape):
            raise StateError(f"state {name!r} has no fixed shape ({ttype.shape}); Core ML states are fixed-size")
        if ttype.dtype not in NUMPY_DTYPES:
            raise StateError(f"state {name!r} has dtype {ttype.dtype}, which a state buffer cannot hold here")
        self.name, self.dtype, self.shape = name, np.dtype(NUMPY_DTYPES[ttype.dtype]), tuple(ttype.shape)
        self.value = np.zeros(self.shape, self.dtype)

    def read(self) -> np.ndarray:
        return self.value.copy()

    def write(self, value) -> None:
        value = np.asarray(value)
        if value.shape != self.shape:
            raise StateError(f"state {self.name!r} has shape {list(self.shape)}; a value of shape "
                             f"{list(value.shape)} was written to it")
        with np.errstate(over="ignore", invalid="ignore"):
            self.value = value.astype(self.dtype)


class ProgramState:
    """The buffers of one stateful program (empty for a stateless one): make one per sequence of runs.

    `Interpreter.make_state()` makes it; `Interpreter.run(inputs, state=...)` reads and updates it.
    `read(name)` / `write(name, value)` set or inspect a buffer between runs, as `MLState` does.
    """

    def __init__(self, declared: list[tuple[str, TensorType]]):
        self.declared = list(declared)
        self.buffers = {name: Buffer(name, ttype) for name, ttype in declared}

    @property
    def names(self) -> list[str]:
        return list(self.buffers)

    def _buffer(self, name: str) -> Buffer:
        if name not in self.buffers:
            raise StateError(f"no state named {name!r}; the program declares {self.names or 'none'}")
        return self.buffers[name]

    def read(self, name: str) -> np.ndarray:
        return self._buffer(name).read()

    def write(self, name: str, value) -> None:
        self._buffer(name).write(value)

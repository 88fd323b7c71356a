"""MIL's list values (make_list and friends): immutable, so an op never changes what another op holds.

An index out of range raises IndexError, which the interpreter reports as the op failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPES = {"fp16": np.float16, "fp32": np.float32, "int32": np.int32, "bool": np.bool_}


@dataclass(frozen=True)
class MilList:
    elements: tuple  # np.ndarray or None (never written)
    elem_shape: tuple | None  # None when only known at runtime
    dtype: str
    dynamic: bool

    def write(self, index: int, value) -> MilList:
        items = list(self.elements)
        if index < 0 or (index >= len(items) and not self.dynamic):
            raise IndexError(f"list index {index} is out of range for a fixed list of length {len(items)}")
        items += [None] * (index + 1 - len(items))
        items[index] = np.asarray(value)
        return MilList(tuple(items), self.elem_shape, self.dtype, self.dynamic)

    def read(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self.elements):
            raise IndexError(f"list index {index} is out of range for a list of length {len(self.elements)}")
        value = self.elements[index]
        if value is None:
            if self.elem_shape is None:
                raise IndexError(f"list element {index} was never written and its shape is not known")
            return np.zeros(self.elem_shape, DTYPES.get(self.dtype, np.float32))
        return value

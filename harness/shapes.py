"""The batch sizes a CoreML export accepts, as the app declares them.

Four declarations, as coremltools offers them: flexible (the default: any batch of 1..MAX_BATCH), a range
(`ct.RangeDim`), enumerated sizes (`ct.EnumeratedShapes`) or one fixed size. Some of coremltools' lowerings
need the batch known when they convert (GroupNorm, adaptive average pooling to a size that does not divide
the input, scatter and scatter_add): such a model converts only with a fixed batch, and the export says so
(`harness.export.coreml`). A run feeds an export its cases in batches it accepts (`slices`), padding the
last one with repeats of its last case where a declaration has no batch that small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import UsageError

#: The largest batch any declaration may name: a flexible export accepts 1..MAX_BATCH.
MAX_BATCH = 1024

KINDS = ("range", "enumerated", "fixed")

_HOW = ("write a size (4), sizes (1,8,32), a range (1..64) or 'flexible' (1..1024); "
        f"every size 1..{MAX_BATCH}")


@dataclass(frozen=True)
class Batch:
    """`kind` and its sizes: a range's (low, high), the enumerated sizes (increasing) or the one fixed size."""

    kind: str
    sizes: tuple[int, ...]

    def __str__(self) -> str:
        """The declaration as `parse` reads it back: `1..1024`, `1,8,32`, `4`."""
        return f"{self.sizes[0]}..{self.sizes[1]}" if self.kind == "range" else ",".join(map(str, self.sizes))

    def describe(self) -> str:
        """In words: `a flexible batch (1..1024)`, `a batch of 1, 8 or 32`, `a fixed batch of 4`."""
        if self.kind == "fixed":
            return f"a fixed batch of {self.sizes[0]}"
        if self.kind == "enumerated":
            return f"a batch of {', '.join(map(str, self.sizes[:-1]))} or {self.sizes[-1]}"
        return f"a {'flexible' if self == FLEXIBLE else 'ranged'} batch ({self})"

    @property
    def default(self) -> int:
        """The batch an export is traced at and coremltools records as the default: the smallest accepted."""
        return self.sizes[0]

    def accepts(self, size: int) -> bool:
        if self.kind == "range":
            return self.sizes[0] <= size <= self.sizes[1]
        return size in self.sizes

    def slices(self, count: int) -> list[tuple[int, int, int]]:
        """`count` cases as (start, stop, batch) runs, each `batch` an accepted size >= stop - start (the
        difference padded): the largest accepted batch that the cases left fill, else the smallest that holds them."""
        out, start = [], 0
        while start < count:
            left = count - start
            fits = self._sizes_up_to(left)
            size = max(fits) if fits else self.sizes[0]
            out.append((start, start + min(size, left), size))
            start += min(size, left)
        return out

    def first(self, count: int) -> list[int]:
        """Positions of the first batch of `count` cases this declaration takes (padded by repeating the last)."""
        _, stop, size = self.slices(count)[0]
        return [min(i, stop - 1) for i in range(size)]

    def _sizes_up_to(self, left: int) -> list[int]:
        if self.kind == "range":
            return [min(left, self.sizes[1])] if left >= self.sizes[0] else []
        return [s for s in self.sizes if s <= left]


FLEXIBLE = Batch("range", (1, MAX_BATCH))


def parse(value: object = None) -> Batch:
    """A declaration from what a caller wrote: None or 'flexible', a size (4, "4"), sizes ((1, 8, 32), "1,8,32"),
    a range (range(1, 65), "1..64"), or a `Batch`; else a UsageError saying how to write one."""
    if value is None or isinstance(value, Batch):
        return value or FLEXIBLE
    if isinstance(value, bool):
        raise UsageError(f"batch {value!r} is not a declaration: {_HOW}")
    if isinstance(value, int):
        return _made("fixed", (value,), value)
    if isinstance(value, range):
        if value.step != 1 or len(value) == 0:
            raise UsageError(f"batch {value!r} is not a declaration: a range of sizes has step 1 and holds one; {_HOW}")
        return _made("range", (value.start, value.stop - 1), value)
    if isinstance(value, tuple | list):
        if not value or not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise UsageError(f"batch {value!r:.60} is not a declaration: {_HOW}")
        return _made("enumerated", tuple(sorted(set(value))), value)
    if isinstance(value, str):
        text = value.strip()
        if text == "flexible":
            return FLEXIBLE
        if m := re.fullmatch(r"(\d{1,6})\s*\.\.\s*(\d{1,6})", text):
            return _made("range", (int(m[1]), int(m[2])), value)
        if re.fullmatch(r"\d{1,6}(\s*,\s*\d{1,6})*", text):
            sizes = tuple(int(s) for s in text.split(","))
            return _made("enumerated" if len(sizes) > 1 else "fixed", tuple(sorted(set(sizes))), value)
    raise UsageError(f"batch {value!r:.60} is not a declaration: {_HOW}")


def _made(kind: str, sizes: tuple[int, ...], given: object) -> Batch:
    """A checked `Batch`; a range of one size or one enumerated size is that fixed size."""
    if any(not 1 <= s <= MAX_BATCH for s in sizes):
        raise UsageError(f"batch {given!r:.60}: every size must be 1..{MAX_BATCH}")
    if kind == "range" and sizes[0] > sizes[1]:
        raise UsageError(f"batch {given!r:.60}: a range runs from its smaller size to its larger")
    if kind == "range" and sizes[0] == sizes[1] or kind == "enumerated" and len(sizes) == 1:
        return Batch("fixed", sizes[:1])
    return Batch(kind, sizes)

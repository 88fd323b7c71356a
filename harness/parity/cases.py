"""A run's seeded cases in chunks: the same cases whether a run holds them all or streams them.

Case `i` of `n` from `seed` lies in chunk `i // CHUNK`; chunk 0 is `make_cases(size, seed)`
itself (so a run of up to CHUNK cases is exactly the model's own `make_cases`), and chunk
`j > 0` comes from a seed derived from `(seed, j)`. `parity` streams the chunks with memory
flat in `n`; `run`, which saves every output, joins them; either way the inputs are the same
and so is their sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np

from harness.errors import UsageError
from harness.records import Cases
from harness.spec import ModelSpec

#: Cases made, run and compared at once. It is also the batch every backend runs, so it bounds
#: their activations (a conv net holds channels x positions floats per case and layer), and
#: it is the default `--n`, so a default run is one chunk.
CHUNK = 1_000


def chunk_seed(seed: int, j: int) -> int:
    """The seed of chunk `j`: `seed` itself for the first, a 32-bit draw from (seed, j) after it."""
    return seed if j == 0 else int(np.random.SeedSequence([seed, j]).generate_state(1, np.uint32)[0])


def count(n: int) -> int:
    """How many chunks `n` cases make (computed, never listed: `n` may be 10^12)."""
    return -(-n // CHUNK)


def size(n: int, j: int) -> int:
    """How many of `n` cases chunk `j` holds."""
    return min(CHUNK, n - j * CHUNK)


def make_chunk(spec: ModelSpec, j: int, size: int, seed: int) -> Cases:
    cases = spec.make_cases(size, chunk_seed(seed, j))
    if len(cases) != size:
        raise UsageError(f"model {spec.name!r}: make_cases({size}, ...) returned {len(cases)} cases")
    return cases


def chunks(spec: ModelSpec, n: int, seed: int, first: Cases | None = None) -> Iterator[tuple[int, Cases]]:
    """(offset of its first case, cases) for each chunk, made as it is asked for (`first`: chunk 0, made already)."""
    for j in range(count(n)):
        yield j * CHUNK, first if j == 0 and first is not None else make_chunk(spec, j, size(n, j), seed)


def make(spec: ModelSpec, n: int, seed: int) -> Cases:
    """All `n` cases at once: the chunks joined."""
    return join([c for _, c in chunks(spec, n, seed)], seed)


def join(parts: Sequence[Cases], seed: int) -> Cases:
    """Chunks as one batch of cases (one chunk is itself)."""
    if len(parts) == 1:
        return parts[0]
    masks = [p.decision_mask for p in parts]
    return Cases(feeds={k: np.concatenate([p.feeds[k] for p in parts]) for k in parts[0].feeds},
                 decision_mask=None if any(m is None for m in masks) else np.concatenate(masks),
                 kinds=sum((p.kinds for p in parts), ()), raw=sum((tuple(p.raw) for p in parts), ()), seed=seed)


def take(spec: ModelSpec, n: int, seed: int, index: Sequence[int]) -> dict[str, np.ndarray]:
    """The feeds of cases `index` (in that order), remaking only the chunks that hold them."""
    made: dict[int, Cases] = {}
    rows = []
    for i in index:
        j = i // CHUNK
        if j not in made:
            made[j] = make_chunk(spec, j, size(n, j), seed)
        rows.append(made[j].take([i - j * CHUNK]))
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]} if rows else {}


class FeedsDigest:
    """`results.feeds_sha256` of the joined feeds, fed chunk by chunk.

    The digest hashes each input whole in name order, so the first input streams with the
    chunks and any other is hashed by remaking the chunks once more (`finish`).
    """

    def __init__(self, spec: ModelSpec, n: int, seed: int):
        self.spec, self.n, self.seed = spec, n, seed
        self.names = sorted(t.name for t in spec.inputs)
        self.digest = hashlib.sha256()
        self._header(self.names[0])

    def _header(self, name: str) -> None:
        (tensor,) = [t for t in self.spec.inputs if t.name == name]
        shape = (self.n, *self.spec.case_shape(tensor))
        self.digest.update(f"{name} float32 {','.join(map(str, shape))}\n".encode())

    def _update(self, name: str, cases: Cases) -> None:
        self.digest.update(np.ascontiguousarray(cases.feeds[name], dtype="<f4").tobytes())

    def update(self, cases: Cases) -> None:
        self._update(self.names[0], cases)

    def finish(self) -> str:
        for name in self.names[1:]:
            self._header(name)
            for _, cases in chunks(self.spec, self.n, self.seed):
                self._update(name, cases)
        return self.digest.hexdigest()

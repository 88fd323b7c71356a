"""Unpacking shared by the iOS16 constexpr ops: values stored n bits each, least significant bit first."""

from __future__ import annotations

import numpy as np


def unpack_bits(packed, nbits: int, count: int) -> np.ndarray:
    """The first `count` unsigned nbits-wide values of a little-endian bit stream in uint8 bytes."""
    bits = np.unpackbits(np.asarray(packed).astype(np.uint8).reshape(-1), bitorder="little")
    bits = bits[: count * nbits].reshape(count, nbits).astype(np.int64)
    return (bits << np.arange(nbits)).sum(axis=1)

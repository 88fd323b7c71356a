"""Decompression shared by the constexpr ops (weights stored compressed, expanded when the program is planned).

iOS16 packs sub-byte values into uint8 bytes here (`unpack_bits`); iOS18 types them UINTn / INT4,
which the program reader unpacks, and adds per-block scales and tables (`shift_scale`, `lookup`)
and sparse-to-sparse forms that a `densify` finishes.
"""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32, round16


def unpack_bits(packed, nbits: int, count: int) -> np.ndarray:
    """The first `count` unsigned nbits-wide values of a little-endian bit stream in uint8 bytes."""
    bits = np.unpackbits(np.asarray(packed).astype(np.uint8).reshape(-1), bitorder="little")
    bits = bits[: count * nbits].reshape(count, nbits).astype(np.int64)
    return (bits << np.arange(nbits)).sum(axis=1)


def block_index(shape: tuple[int, ...], blocks: tuple[int, ...], what: str) -> tuple[np.ndarray, ...]:
    """Per axis, the block each position falls in (shape[i] / blocks[i] consecutive positions a block),
    shaped to broadcast against a tensor of `shape`."""
    if len(shape) != len(blocks):
        raise ValueError(f"{what} has rank {len(blocks)}; the data has rank {len(shape)}")
    index = []
    for axis, (size, count) in enumerate(zip(shape, blocks, strict=True)):
        if count <= 0 or size % count:
            raise ValueError(f"{what} has {count} blocks along axis {axis}, which do not divide its size {size}")
        where = [1] * len(shape)
        where[axis] = size
        index.append((np.arange(size) // (size // count)).reshape(where))
    return tuple(index)


def shift_scale(data, scale, offset=None) -> np.ndarray:
    """scale * (data - offset), scale and offset repeated over their blocks (constexpr_blockwise_shift_scale).

    Computed as coremltools' `decompress` does, in the scale's dtype: with an fp16 scale the
    difference is rounded to fp16 before the product (exact for integer data and offsets).
    """
    data = np.asarray(data)
    scale = np.asarray(scale)
    where = block_index(data.shape, scale.shape, "scale")
    diff = data.astype(np.float32)
    if offset is not None:
        offset = np.asarray(offset)
        if offset.shape != scale.shape:
            raise ValueError(f"offset has shape {list(offset.shape)}; scale has {list(scale.shape)}")
        diff = diff - f32(offset.astype(np.float32))[where]
    if scale.dtype == np.float16:
        diff = round16(diff)
    return diff * f32(scale)[where]


def lookup(indices, lut, vector_axis=None) -> np.ndarray:
    """lut[block, indices] (constexpr_lut_to_dense, iOS18): lut is [*blocks, 2^nbits, VECTOR_SIZE], one block
    axis per axis of indices; a vector entry (VECTOR_SIZE > 1) fills VECTOR_SIZE positions along `vector_axis`."""
    idx = np.asarray(indices).astype(np.int64)
    table = np.asarray(lut)
    if table.ndim != idx.ndim + 2:
        raise ValueError(f"lut has rank {table.ndim}; indices of rank {idx.ndim} need rank {idx.ndim + 2}")
    entries, size = table.shape[-2:]
    if idx.size and (idx.min() < 0 or idx.max() >= entries):
        raise ValueError(f"indices reach {idx.max()}, past the lut's {entries} entries")
    out = table[block_index(idx.shape, table.shape[:-2], "lut") + (idx,)]  # indices.shape + [VECTOR_SIZE]
    if size == 1:
        return out[..., 0]
    if vector_axis is None:
        raise ValueError(f"the lut's entries are vectors of {size}, and no vector_axis says where they go")
    axis = int(vector_axis) % idx.ndim
    shape = list(idx.shape)
    shape[axis] *= size
    return np.moveaxis(out, -1, axis + 1).reshape(shape)


def densify(nonzero_data, mask) -> np.ndarray:
    """Zeros of the mask's shape, with nonzero_data in order where the mask is set (iOS18's sparse layout)."""
    data = np.asarray(nonzero_data).reshape(-1)
    where = np.asarray(mask) != 0
    if int(where.sum()) != data.size:
        raise ValueError(f"the mask sets {int(where.sum())} positions for {data.size} nonzero values")
    out = np.zeros(where.shape, data.dtype)
    out[where] = data
    return out

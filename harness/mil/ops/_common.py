"""Helpers shared by op implementations."""

from __future__ import annotations

import numpy as np

#: Elements per pass of `round16`: its arrays stay in the core's L2 cache between its ten passes.
_ROUND_CHUNK = 1 << 16
#: Below this many elements `round16` lets numpy convert: its ten passes cost about 20 us however short
#: the array, numpy about 5 ns an element (a batch-1 activation of 3,200: 18 us against 30).
_ROUND_SMALL = 4096
_U32 = np.uint32


def round16(x) -> np.ndarray:
    """float32 values rounded to the nearest float16 (ties to even), kept in float32; equals
    `x.astype(np.float16).astype(np.float32)` bit for bit for every float32, NaN payloads included.

    numpy converts to float16 in software, one element at a time; here each value's fp16 ulp is
    added and taken away again as a float32 magic number, 1.5 * 2^(e + 13) for a value of exponent
    e (clamped to fp16's subnormal and largest exponents), so float32's own round-to-nearest-even
    drops the 13 bits fp16 lacks: the sum stays within that number's binade, whose ulp is the fp16
    ulp. Then x 2^112 x 2^-112 sends everything from 65520 up to inf, and the sign bit of x is put
    back (a zero result lost it). NaN is rare and its payload bits differ, so numpy converts those.
    The result has the layout `astype` would give it, so BLAS sees the same strides either way.
    """
    x = np.asarray(x)
    if x.dtype != np.float32 or x.size < _ROUND_SMALL:
        return x.astype(np.float16).astype(np.float32)
    src, perm = x, _dense_order(x)
    if perm is None:
        src = x.astype(np.float32)
        perm = _dense_order(src)
    out = np.empty_like(src)
    flat_x, flat_out = src.transpose(perm).reshape(-1), out.transpose(perm)
    if not flat_out.flags.c_contiguous:  # empty_like chose another layout: never seen, but stay exact
        return x.astype(np.float16).astype(np.float32)
    flat_out = flat_out.reshape(-1)
    scratch = np.empty(min(_ROUND_CHUNK, flat_x.size), _U32)
    nan = False
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, flat_x.size, _ROUND_CHUNK):
            nan = _round_chunk(flat_x[start : start + _ROUND_CHUNK], flat_out[start : start + _ROUND_CHUNK],
                               scratch) or nan
    if nan:
        where = np.isnan(src)
        with np.errstate(invalid="ignore"):
            out[where] = src[where].astype(np.float16).astype(np.float32)
    return out


def _round_chunk(xs: np.ndarray, rs: np.ndarray, scratch: np.ndarray) -> bool:
    """rs = xs rounded to float16 (see `round16`), NaN payloads aside; whether there was a NaN."""
    magic = scratch[: xs.size]
    bits = xs.view(_U32)
    np.bitwise_and(bits, _U32(0x7F800000), out=magic)  # the exponent of x
    np.maximum(magic, _U32(0x38800000), out=magic)  # within 2^-14 ..
    np.minimum(magic, _U32(0x47000000), out=magic)  # .. 2^15
    magic += _U32(0x06C00000)  # 1.5 * 2^(e + 13)
    np.add(xs, magic.view(np.float32), out=rs)
    rs -= magic.view(np.float32)
    rs *= np.float32(2.0**112)  # 65536 and above overflow to inf ...
    rs *= np.float32(2.0**-112)  # ... and everything else comes back exactly
    np.bitwise_and(bits, _U32(0x80000000), out=magic)
    rs.view(_U32)[...] |= magic
    return bool(np.isnan(np.maximum.reduce(rs)))  # NaN propagates


def _dense_order(a: np.ndarray):
    """The axis order in which `a` is one C-contiguous block of memory, or None when it is not."""
    if a.flags.c_contiguous:
        return tuple(range(a.ndim))
    perm = tuple(sorted(range(a.ndim), key=lambda i: -abs(a.strides[i])))
    return perm if a.transpose(perm).flags.c_contiguous else None


def f32(x) -> np.ndarray:
    """Float inputs computed in float32 (the interpreter rounds results to their declared type).

    A float32 array comes back as it is, not copied: no op writes into its inputs.
    """
    x = np.asarray(x)
    if x.dtype == np.float32:
        return x
    return x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x


def ints(x) -> list[int]:
    return [int(v) for v in np.asarray(x).reshape(-1)]


def axes_of(x: np.ndarray, axes) -> tuple[int, ...]:
    """`axes` (None: all) as sorted non-negative axes of `x`."""
    if axes is None:
        return tuple(range(np.ndim(x)))
    return tuple(sorted({a % max(np.ndim(x), 1) for a in ints(axes)}))


def along(param, ndim: int, axis: int = 1) -> np.ndarray:
    """A per-channel parameter (shape [C] or scalar) shaped to broadcast along `axis` of an ndim tensor."""
    p = f32(param)
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * ndim
    shape[axis] = p.size
    return p.reshape(shape)


def padding(pad_type: str, pad, spatial: tuple[int, ...], kernel: tuple[int, ...], strides, dilations,
            ctx) -> list[tuple[int, int]]:
    """(before, after) per spatial dim for MIL's pad_type: valid, custom, same, same_lower."""
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        p = ints(pad) if pad is not None else [0] * (2 * len(spatial))
        return [(p[2 * i], p[2 * i + 1]) for i in range(len(spatial))]
    if pad_type in ("same", "same_lower"):
        out = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((big, small) if pad_type == "same_lower" else (small, big))
        return out
    raise ctx.unsupported(f"pad_type {pad_type!r} is not supported")


def windows(x: np.ndarray, kernel, strides, dilations) -> np.ndarray:
    """[N, C, *D] -> [N, C, *out, *kernel] sliding windows (already padded input)."""
    nd = len(kernel)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    w = np.lib.stride_tricks.sliding_window_view(x, extent, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) + tuple(
        slice(None, None, d) for d in dilations)
    return w[index]


def binary(x, y):
    x, y = f32(x), f32(y)
    return x, y


def activation(name: str, ctx, alpha=None, beta=None):
    """The named activation of MIL's recurrent ops (with their default parameters)."""
    def sigmoid(v):
        return np.float32(1) / (np.float32(1) + np.exp(-v))

    table = {
        "sigmoid": sigmoid,
        "tanh": np.tanh,
        "relu": lambda v: np.maximum(v, np.float32(0)),
        "linear": lambda v: v,
        "scaled_tanh": lambda v: np.float32(1 if alpha is None else alpha) * np.tanh(
            np.float32(1 if beta is None else beta) * v),
        "hard_sigmoid": lambda v: np.clip(np.float32(0.2 if alpha is None else alpha) * v
                                          + np.float32(0.5 if beta is None else beta), 0, 1).astype(np.float32),
    }
    table["sigmoid_hard"] = table["hard_sigmoid"]
    if name not in table:
        raise ctx.unsupported(f"activation {name!r} is not supported")
    return table[name]


def slice_index(begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None) -> tuple:
    """slice_by_index's arguments as a numpy index (negative positions count from the end, as numpy's)."""
    rank = len(ints(begin))
    stride = ints(stride) if stride is not None else [1] * rank

    def flags(mask):
        return [bool(b) for b in np.atleast_1d(mask)] if mask is not None else [False] * rank

    begin_mask, end_mask, squeeze = flags(begin_mask), flags(end_mask), flags(squeeze_mask)
    index = []
    for axis, (b, e, s) in enumerate(zip(ints(begin), ints(end), stride, strict=True)):
        if squeeze[axis]:
            index.append(b)
            continue
        index.append(slice(None if begin_mask[axis] else b, None if end_mask[axis] else e, s))
    return tuple(index)

"""`round16` (float32 -> nearest-even float16 -> float32 in float32/int32 arithmetic) is numpy's conversion.

The truth is numpy's own `astype(np.float16).astype(np.float32)`, a separate implementation
(integer code on the float16 bits). Compared bit for bit: signed zeros and NaN payloads count.
The default suite takes every bit pattern of sampled exponents, every float16 midpoint and
its float32 neighbours, and the special values; `-m slow` takes all 2^32 patterns.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.mil.interpreter import round16
from harness.mil.ops._common import _ROUND_SMALL

U32 = np.uint32


def numpy_rounded(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(np.float16).astype(np.float32)


def assert_bits_equal(x: np.ndarray) -> None:
    got, want = round16(x), numpy_rounded(x)
    assert got.dtype == np.float32 and got.shape == x.shape
    bad = np.flatnonzero(got.view(U32) != want.view(U32))
    assert bad.size == 0, [(hex(int(x.view(U32).flat[i])), hex(int(got.view(U32).flat[i])),
                            hex(int(want.view(U32).flat[i]))) for i in bad[:5]]


def with_exponent(field: int, sign: int = 0) -> np.ndarray:
    """Every float32 whose biased exponent field is `field` (all 2^23 significands)."""
    return (np.arange(2**23, dtype=U32) | U32((sign << 31) | (field << 23))).view(np.float32)


# float32 exponent fields: denormals, far below fp16, around half fp16's smallest subnormal (2^-25),
# fp16 subnormals, the subnormal/normal boundary (2^-14), ordinary values, the top of fp16's range
# (65504, 65520) and above it, and inf/NaN.
@pytest.mark.parametrize("field", [102, 112, 142, 255])
def test_every_significand_of_sampled_exponents(field):
    assert_bits_equal(with_exponent(field))
    assert_bits_equal(with_exponent(field, sign=1))


@pytest.mark.parametrize("field", [0, 60, 101, 103, 110, 113, 127, 135, 143, 200])
def test_a_thirteenth_of_the_significands_of_more_exponents(field):
    assert_bits_equal(with_exponent(field)[::13])
    assert_bits_equal(with_exponent(field, sign=1)[5::13])


def test_every_float16_midpoint_and_its_neighbours():
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    finite = np.sort(np.unique(halves[np.isfinite(halves)].astype(np.float64)))
    mids = ((finite[:-1] + finite[1:]) / 2).astype(np.float32)  # 12 significant bits: exact in float32
    assert (mids.astype(np.float64) == (finite[:-1] + finite[1:]) / 2).all()
    top = np.float32(65520.0)  # the midpoint between 65504 and the next step, which is inf
    points = np.concatenate([mids, [top]])
    near = np.concatenate([points, np.nextafter(points, np.float32(np.inf)),
                           np.nextafter(points, np.float32(-np.inf)), finite.astype(np.float32)])
    assert_bits_equal(near)


def test_special_values():
    bits = [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x33000000, 0x33000001, 0xB3000000,
            0x32FFFFFF, 0x33800000, 0x387FE000, 0x387FF000, 0x387FFFFF, 0x38800000, 0x477FE000, 0x477FEFFF,
            0x477FF000, 0xC77FF000, 0x47800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000,
            0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7F801FFF, 0x7F802000, 0x7FBFFFFF, 0x7FFFFFFF]
    x = np.array(bits * (_ROUND_SMALL // len(bits) + 1), dtype=U32).view(np.float32)  # long enough for the fast path
    assert_bits_equal(x)
    assert_bits_equal(x[:5])  # and the short path


def test_layout_and_other_dtypes_follow_astype():
    x = np.random.default_rng(0).normal(size=(8, 32, 50)).astype(np.float32) * 1000
    for view in (x, x.transpose(0, 2, 1), x[:, ::2], x[..., ::-1], x[:, :1]):
        assert round16(view).strides == numpy_rounded(view).strides
        assert_bits_equal(view)
    for dtype in (np.float16, np.float64):
        y = x.astype(dtype)
        assert (round16(y).view(U32) == numpy_rounded(y).view(U32)).all()


@pytest.mark.slow
def test_every_float32():
    for high in range(256):
        assert_bits_equal((np.arange(2**24, dtype=U32) | U32(high << 24)).view(np.float32))

"""The fp16 profiles' arithmetic: float32 then one rounding to float16 is the float16 operation.

The interpreter never computes in numpy's float16 (slow); it computes fp16 values in float32
and rounds. For +, -, x and / that is exact: float32 carries 24 bits >= 2 * 11 + 2, so the
double rounding is innocuous. Checked here over every pair of fp16 values from sampled
exponent ranges, against truths computed without float32: float64 (exact for +, - and x
of fp16 values) rounded once, and for / the defining property of the nearest value.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.mil.interpreter import round16

F16_BITS = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
FINITE = F16_BITS.view(np.float16)[np.isfinite(F16_BITS.view(np.float16))]


def with_exponents(fields) -> np.ndarray:
    """Every fp16 value (both signs, every significand) whose biased exponent field is in `fields`."""
    exponent = (F16_BITS >> 10) & 0x1F
    return F16_BITS[np.isin(exponent, list(fields))].view(np.float16)


def float32_then_rounded(op, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return round16(op(x.astype(np.float32), y.astype(np.float32))).astype(np.float16)


def exact_then_rounded(op, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """+, -, x of fp16 values are exact in float64; numpy rounds float64 to float16 directly, once."""
    with np.errstate(all="ignore"):
        return op(x.astype(np.float64), y.astype(np.float64)).astype(np.float16)


def is_nearest_quotient(q: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """q is x / y rounded to nearest-even fp16: no fp16 neighbour of q is nearer (exact float64 residuals)."""
    x64, y64, q64 = x.astype(np.float64), y.astype(np.float64), q.astype(np.float64)
    with np.errstate(all="ignore"):
        exact = x64 / y64
        finite = np.isfinite(q64)
        ok = np.ones(q.shape, bool)
        # overflow: rounding to nearest gives inf past the midpoint of 65504 and the next power (65520)
        ok[~finite] = np.abs(exact[~finite]) >= 65520
        for direction in (np.float16(np.inf), np.float16(-np.inf)):
            other = np.nextafter(q, direction).astype(np.float64)
            usable = finite & np.isfinite(other)
            mine = np.abs(x64 - q64 * y64)  # |x - q y| = |y| |x / y - q|: both products exact in float64
            theirs = np.abs(x64 - other * y64)
            even = (q.view(np.uint16) & 1) == 0
            ok &= ~usable | (mine < theirs) | ((mine == theirs) & even)
    return ok


OPS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}
#: Exponent fields sampled by default: subnormals (0), around 1.0 (15), near overflow (29).
CENTRES = [0, 15, 29]
#: Partners' exponent fields relative to x's: equal and next (carries, cancellation) and 11-12 below
#: (the partner lands at x's rounding position: where a double rounding could go wrong).
OFFSETS = [-12, -11, 0, 1]


def pairs(centre: int):
    xs = with_exponents([centre])
    ys = with_exponents({min(max(centre + d, 0), 30) for d in OFFSETS})
    return np.repeat(xs, len(ys)), np.tile(ys, len(xs))


#: One exponent range per op by default (subnormals, around 1.0, near overflow); every one with -m slow.
DEFAULT = [("add", 15), ("subtract", 0), ("multiply", 29)]
EVERY = [(name, centre) for name in sorted(OPS) for centre in CENTRES]


@pytest.mark.parametrize(("name", "centre"), [
    *DEFAULT, *(pytest.param(*p, marks=pytest.mark.slow) for p in EVERY if p not in DEFAULT)])
def test_float32_rounded_to_float16_is_the_float16_operation(name, centre):
    x, y = pairs(centre)
    got, want = float32_then_rounded(OPS[name], x, y), exact_then_rounded(OPS[name], x, y)
    same = (got.view(np.uint16) == want.view(np.uint16)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), (x[~same][:5], y[~same][:5])


@pytest.mark.parametrize("centre", [15, *(pytest.param(c, marks=pytest.mark.slow) for c in (0, 29))])
def test_float32_division_rounded_to_float16_is_the_nearest_fp16_quotient(centre):
    x, y = pairs(centre)
    keep = y != 0
    x, y = x[keep], y[keep]
    q = float32_then_rounded(np.divide, x, y)
    ok = is_nearest_quotient(q, x, y)
    assert ok.all(), (x[~ok][:5], y[~ok][:5])


@pytest.mark.slow
@pytest.mark.parametrize("name", [*sorted(OPS), "divide"])
def test_float32_rounded_to_float16_is_the_float16_operation_for_all_finite_partners(name):
    """Each sampled exponent's values against every finite fp16 value (130 million pairs per exponent)."""
    for centre in CENTRES:
        xs = with_exponents([centre])
        for chunk in np.array_split(xs, 32):
            x, y = np.repeat(chunk, len(FINITE)), np.tile(FINITE, len(chunk))
            if name == "divide":
                keep = y != 0
                x, y = x[keep], y[keep]
                assert is_nearest_quotient(float32_then_rounded(np.divide, x, y), x, y).all()
            else:
                got, want = float32_then_rounded(OPS[name], x, y), exact_then_rounded(OPS[name], x, y)
                assert ((got.view(np.uint16) == want.view(np.uint16)) | (np.isnan(got) & np.isnan(want))).all()

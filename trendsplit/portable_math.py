"""exp and log from IEEE-754 basic operations alone, so every machine and Swift get the same bits.

numpy's float64 `exp` and `log` run SIMD kernels on CPUs with AVX-512 and the C library's elsewhere, and
Apple's libm is another again: their last bits differ. Anything computed from them that is to be
reproduced bit for bit (a committed figure, an encoding Swift must match) uses these instead: range
reduction by a power of two, a fixed polynomial evaluated by Horner's rule in a fixed order, and a
scaling by 2^k, each step a correctly rounded `+ - * /`, `rint`, `frexp` or `ldexp`. They agree with the
C library to a few units in the last place; what matters is that they agree with themselves.
"""

from __future__ import annotations

import numpy as np

#: ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (its low 32 bits are zero).
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
#: Below EXP_LOW exp is 0, where binary64 would hold a subnormal (exp(-708.4) is the smallest normal): so the
#: scaling by 2^k is always of a normal number into a normal number, exact in every language's ldexp. Above
#: EXP_HIGH it is inf.
EXP_LOW = -708.0
EXP_HIGH = 709.0
#: 1 / k! for k = 13 .. 0: Horner's rule over |r| <= ln2 / 2 leaves a relative error under 2e-16.
_EXP_TERMS = tuple(1.0 / float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(13, -1, -1))
#: 2 / (2k + 1) for k = 11 .. 1: with s = f / (2 + f), log(1 + f) = 2 atanh(s) = 2s + s R(s^2), R(z) the sum of
#: these times z^k; |s| < 0.172 at m in [sqrt(1/2), sqrt(2)), so z^12 is below 2^-60.
_LOG_TERMS = tuple(2.0 / (2 * k + 1) for k in range(11, 0, -1))
SQRT_HALF = 0.70710678118654752440


def exp(x: np.ndarray | float) -> np.ndarray:
    """e^x elementwise (float64): 0 below `EXP_LOW` (no subnormal results), inf above `EXP_HIGH`, NaN for NaN."""
    x = np.asarray(x, dtype=np.float64)
    out = _reduced(np.clip(np.nan_to_num(x, nan=0.0), EXP_LOW, EXP_HIGH))
    out = np.where(x < EXP_LOW, 0.0, np.where(x > EXP_HIGH, np.inf, out))
    return np.where(np.isnan(x), np.nan, out)


def _reduced(clamped: np.ndarray) -> np.ndarray:
    """e^x for x in [EXP_LOW, EXP_HIGH]: 2^k e^r, |r| <= ln2 / 2 (each step in place: the same roundings)."""
    k = np.rint(clamped * INV_LN2)
    r = (clamped - k * LN2_HI) - k * LN2_LO
    p = np.full_like(r, _EXP_TERMS[0])
    for c in _EXP_TERMS[1:]:
        p *= r
        p += c
    return np.ldexp(p, k.astype(np.int64))


def _exp_at_most_zero(x: np.ndarray) -> np.ndarray:
    """`exp` of values <= 0 or -inf (logsumexp's shifted terms), without `exp`'s passes for NaN and inf; the
    polynomial only where the result is not 0 (most of a posterior's terms are below EXP_LOW): the same bits."""
    live = ~(x < EXP_LOW)  # NaN stays NaN, as in `exp`
    out = np.zeros(x.shape)
    out[live] = _reduced(x[live])
    return out


def log(x: np.ndarray | float) -> np.ndarray:
    """ln x elementwise (float64): -inf at 0, NaN below 0 or for NaN, inf at inf."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x) & (x > 0)
    m, e = np.frexp(np.where(ok, x, 1.0))  # x = m 2^e, m in [0.5, 1): exact
    low = m < SQRT_HALF
    m = np.where(low, m * 2.0, m)  # exact
    e = (e - low).astype(np.float64)
    f = m - 1.0  # exact (Sterbenz)
    half_square = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    r = np.full_like(z, _LOG_TERMS[0])
    for c in _LOG_TERMS[1:]:
        r = r * z + c
    r = r * z
    # fdlibm's e_log.c arrangement: f - f^2/2 carried exactly as far as it goes, the rest a small correction
    out = e * LN2_HI - ((half_square - (s * (half_square + r) + e * LN2_LO)) - f)
    out = np.where(x == 0, -np.inf, np.where(x == np.inf, np.inf, out))
    return np.where(ok | (x == 0) | (x == np.inf), out, np.nan)


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(a))) along `axis`, the terms summed one after another in index order (np.cumsum),
    so the order is the same everywhere; -inf where every term is -inf."""
    a = np.asarray(a, dtype=np.float64)
    top = np.max(a, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.take(np.cumsum(_exp_at_most_zero(a - safe), axis=axis), -1, axis=axis)
    return np.squeeze(safe, axis=axis) + log(total)

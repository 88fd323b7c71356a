"""Random numbers that are the same bits on every machine: integer draws and exactly rounded operations only.

numpy's and torch's float draws are not. numpy's normal and exponential call the C library's
`exp` (an accept/reject test) and `log1p` (the tail's value, about one draw in 4,000), whose last
bits differ between C libraries (glibc's versions, macOS's, musl's), and glibc itself picks
other builds of both on a CPU without FMA (they disagree with the FMA builds on up to 0.12% of inputs);
torch's `uniform_` and `normal_` kernels are compiled once per CPU capability, and the AVX2
build's fused multiply-add rounds differently from the plain one (`ATEN_CPU_CAPABILITY=default`).
A value drawn here is made of whole numbers from a seeded bit generator, turned into floats by
operations IEEE 754 rounds exactly (integer to float, scaling by a power of two, one `+`, `-`,
`*` or `/` at a time in separate numpy calls, never fused), so it is the same on every CPU,
thread count and C library; the exponential's logarithm is a series of such operations.

The normal is Irwin-Hall's: the sum of 12 uniform 16-bit integers, centred and divided by 2^16
(mean 0, variance 1 - 2^-32, within +-6), which is exact in binary64. Good for test inputs and
initial weights; not for statistics that need the normal's tails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Context, Decimal

import numpy as np

#: Values made per block: bounds the memory of a large draw (12 x 16-bit integers per normal value).
_BLOCK = 1 << 20


def _count(size) -> int:
    return int(np.prod(size, dtype=np.int64)) if size is not None else 1


def _shaped(values: np.ndarray, size) -> np.ndarray | float:
    return float(values[0]) if size is None else values.reshape(size)


class ExactGenerator:
    """A seeded source of random numbers with numpy `Generator`'s methods for the common draws.

    `random`, `uniform`, `normal`, `standard_normal`, `exponential` and `standard_exponential` are exact (module
    docstring); `integers`, `choice`, `permutation` and `shuffle` are numpy's own, which draw
    whole numbers only. Any other method is numpy's, as it comes. Pass one wherever code takes a
    `numpy.random.Generator` and uses those methods.
    """

    def __init__(self, seed: int | Sequence[int] | np.random.SeedSequence | None = 0):
        self.generator = np.random.default_rng(seed)

    def __getattr__(self, name: str):  # integers, choice, permutation, ...: numpy's
        return getattr(self.generator, name)

    def _bits(self, count: int, width: int) -> np.ndarray:
        """`count` uniform integers in [0, 2^width), width <= 64, as uint64."""
        return self.generator.bit_generator.random_raw(count) >> np.uint64(64 - width)

    def _unit(self, count: int, width: int = 53) -> np.ndarray:
        """Uniform on [0, 1) in steps of 2^-width: integer, converted exactly, scaled by a power of two."""
        return np.ldexp(self._bits(count, width).astype(np.float64), -width)

    def random(self, size=None, dtype=np.float64) -> np.ndarray | float:
        return _shaped(self._unit(_count(size)).astype(dtype), size)

    def uniform(self, low=0.0, high=1.0, size=None, *, width: int = 53) -> np.ndarray | float:
        """`low + (high - low) * u`, each operation rounded once (numpy's C code may fuse them on some CPUs)."""
        size = size if size is not None else (np.broadcast_shapes(np.shape(low), np.shape(high)) or None)
        u = self._unit(_count(size), width).reshape((1,) if size is None else size)
        return _shaped(np.add(low, np.multiply(np.subtract(high, low), u)).ravel(), size)

    def standard_normal(self, size=None, dtype=np.float64) -> np.ndarray | float:
        count = _count(size)
        out = np.empty(count, dtype=np.float64)
        for start in range(0, count, _BLOCK):
            n = min(_BLOCK, count - start)
            halves = self._bits(3 * n, 64).view(np.uint16).reshape(n, 12)  # 12 x 16 bits per value
            total = halves.sum(axis=1, dtype=np.int64) - 6 * 0xFFFF  # an integer sum: exact in any order
            out[start:start + n] = np.ldexp(total.astype(np.float64), -16)
        return _shaped(out.astype(dtype), size)

    def normal(self, loc=0.0, scale=1.0, size=None) -> np.ndarray | float:
        size = size if size is not None else (np.broadcast_shapes(np.shape(loc), np.shape(scale)) or None)
        z = self.standard_normal((1,) if size is None else size)
        return _shaped(np.add(loc, np.multiply(scale, z)).ravel(), size)

    def exponential(self, scale=1.0, size=None) -> np.ndarray | float:
        """`-scale * ln(u)`, u in (0, 1], with `ln` made of exactly rounded operations (`_ln`)."""
        size = size if size is not None else (np.shape(scale) or None)
        u = np.ldexp((self._bits(_count(size), 53) + np.uint64(1)).astype(np.float64), -53)  # (0, 1], exact
        minus_ln = (0.0 - _ln(u)).reshape((1,) if size is None else size)
        return _shaped(np.multiply(scale, minus_ln).ravel(), size)

    def standard_exponential(self, size=None, dtype=np.float64, method: str | None = None) -> np.ndarray | float:
        """`exponential(1.0, size)`; `method` (numpy's ziggurat or inverse CDF) has no say here."""
        draws = self.exponential(1.0, size)
        return draws if size is None else draws.astype(dtype)


#: ln 2, and the atanh series' coefficients 1/(2k+1): constants, each rounded once (decimal, division).
_LN2 = float(Context(prec=40).ln(Decimal(2)))
_SERIES = [1.0 / (2 * k + 1) for k in range(12)]


def _ln(u: np.ndarray) -> np.ndarray:
    """The natural logarithm of positive normal numbers, to a few units in the last place, from
    `frexp` (exact) and a fixed sequence of `+ - * /`, each rounded once in its own numpy call: the
    same bits on every CPU (numpy's own `log` is a SIMD kernel chosen per CPU)."""
    m, e = np.frexp(u)  # u = m * 2^e, m in [0.5, 1)
    low = m < np.sqrt(0.5)
    m = np.where(low, m * 2.0, m)  # now in [sqrt(1/2), sqrt(2)): exact doubling
    e = np.where(low, e - 1, e).astype(np.float64)
    s = np.divide(np.subtract(m, 1.0), np.add(m, 1.0))  # ln m = 2 atanh(s), |s| < 0.1716
    s2 = np.multiply(s, s)
    series = np.full_like(s, _SERIES[-1])
    for c in reversed(_SERIES[:-1]):  # Horner: s2^11 < 2e-17, below the last place
        series = np.add(np.multiply(series, s2), c)
    return np.add(np.multiply(e, _LN2), np.multiply(np.multiply(2.0, s), series))


# -- torch: initial weights drawn exactly ---------------------------------------------------------

def _mantissa_bits(dtype) -> int:
    import torch

    return {torch.float64: 53, torch.float32: 24, torch.float16: 11, torch.bfloat16: 8}.get(dtype, 24)


def _fill(tensor, values: np.ndarray):
    import torch

    with torch.no_grad():
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64)).reshape(tensor.shape))
    return tensor


def _number(value) -> float | np.ndarray:
    import torch

    return value.detach().double().cpu().numpy() if isinstance(value, torch.Tensor) else float(value)


@contextmanager
def exact_torch_draws(generator: ExactGenerator) -> Iterator[None]:
    """Inside, torch's `uniform_`, `normal_`, `rand`, `randn` (and their `_like` and `torch.normal`
    forms) take their values from `generator`, so module inits made of them (every torch.nn default,
    kaiming_*, xavier_*, torchvision's) give the same weights on every machine.

    Other random ops (`bernoulli_`, `exponential_`, `trunc_normal_`'s `erfinv_`, `orthogonal_`'s QR)
    stay torch's kernels.
    """
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten

    def uniform(out, low, high):
        return _fill(out, generator.uniform(low, high, size=out.shape, width=_mantissa_bits(out.dtype)))

    def normal(out, mean, std):
        return _fill(out, np.add(mean, np.multiply(std, generator.standard_normal(size=out.shape))))

    def kwarg(args, kwargs, i, name, default):
        return args[i] if len(args) > i else kwargs.get(name, default)

    draws: dict[object, Callable] = {
        aten.uniform_: lambda out, a, k: uniform(out, _number(kwarg(a, k, 1, "from", 0.0)),
                                                 _number(kwarg(a, k, 2, "to", 1.0))),
        aten.normal_: lambda out, a, k: normal(out, _number(kwarg(a, k, 1, "mean", 0.0)),
                                               _number(kwarg(a, k, 2, "std", 1.0))),
        aten.normal: lambda out, a, k: normal(out, _number(kwarg(a, k, 0, "mean", 0.0)),
                                              _number(kwarg(a, k, 1, "std", 1.0))),
        aten.rand: lambda out, a, k: uniform(out, 0.0, 1.0),
        aten.rand_like: lambda out, a, k: uniform(out, 0.0, 1.0),
        aten.randn: lambda out, a, k: normal(out, 0.0, 1.0),
        aten.randn_like: lambda out, a, k: normal(out, 0.0, 1.0),
    }

    class ExactDraws(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            draw = draws.get(func.overloadpacket)
            if draw is None or not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.is_meta:
                return out
            return draw(out, args, kwargs)

    with ExactDraws():
        yield

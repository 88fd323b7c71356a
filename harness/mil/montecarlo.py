"""Monte Carlo arithmetic: the spread of outputs that a precision's rounding alone produces.

As Verificarlo and CADNA do, each op's result is rounded at random instead of to nearest, and the
program run K times with K seeds: where the K outputs agree, rounding cannot move them; where they
spread, a device's rounding (which is one such draw, only not random) can move them as far.

- at fp16 (`precision="fp16"`), every float value of the program, its inputs and constants (the weights)
  included, is rounded *stochastically* to float16 (save a constant given to an input that coremltools'
  fp16 pass leaves in float32, such as a resize's scale factors: `kept_fp32`): up or down to a
  neighbour with probability proportional to its nearness (unbiased: the rounding's own error
  distribution, the weights' too); run on the float32 program, this is fp16 arithmetic around that
  program's exact values;
  An op that the fp16 pass leaves in float32 because a constant of it overflows float16 (`op_kept_fp32`) keeps its
  constants exact and has its result rounded at fp32, as below;
- at fp32, every op's float32 result gets MCA's random rounding at float32's precision: multiplied by
  1 + 2^-24 xi, xi uniform in (-1, 1), and rounded to float32 (the weights are exact there).

What is randomised is each op's *result*, and the sums inside an op (conv, matmul, reductions): where the
profile accumulates in float16 (`fp16`) each float16 partial sum is rounded at random; in a run at fp32 the
sum gets the error its additions can make (`RandomRounding.accumulated`). The runs are strata of one draw
(`RandomRounding.uniform`). A statistical expectation of the precision, not a device's bits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: float32's unit roundoff: the relative size of MCA's random rounding of a float32 result.
U32 = 2.0**-24
#: One unit roundoff per precision: rounding a value to it moves it up to this much relative to itself, so a
#: spread is never less (with 8 runs, stochastic rounding of a value near a grid point often never leaves it).
UNIT = {"fp16": 2.0**-11, "fp32": U32}
#: Monte Carlo runs per estimate: the spread is their largest distance from their own mean.
SAMPLES = 8
#: The runs' seed: every run draws from it (run k takes its own stratum), so an estimate repeats exactly.
SEED = 20261202


@functools.cache
def kept_fp32(op_type: str, param: str) -> bool:
    """Whether an fp16 program keeps this op input in float32: its type domain in coremltools' op definitions
    (any opset) holds no float16, so `FP16ComputePrecision` never casts it (an upsample's scale factors,
    which set the output's size). Rounding it would run another op, not the same op at fp16."""
    try:
        from coremltools.converters.mil.mil import types
        from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
    except ImportError:  # no op definitions here: every float constant is rounded
        return False
    domains: set = set()
    for cls in SSAOpRegistry.core_ops.get(op_type, {}).values():
        spec = cls.input_spec.input_types.get(param)
        if spec is None:
            continue
        domain_id = getattr(spec, "type_domain_id", None)  # tensor inputs have one; tuples and the like not
        named = domain_id and getattr(cls, "type_domains", {}).get(domain_id)
        domains |= set(named or getattr(spec, "type_domain", None) or ())
    return bool(domains) and types.fp16 not in domains


#: float16's largest finite value: coremltools' fp16 pass keeps an op whose float32 constant exceeds it in float32.
FP16_MAX = 65504.0


def op_kept_fp32(constants: Sequence[object]) -> bool:
    """Whether coremltools' fp16 pass leaves a whole op in float32 because of its constant inputs (`constants`: the
    values of those known before the run): one holds a finite float32 value float16 cannot (`fp16_overflow` in
    coremltools' `FP16ComputePrecision`: |v| > 65,504, infinities aside). A `* 1e5` is then computed in float32, and
    a run at fp16 that rounded its results would make them infinite, where the fp16 program does not."""
    for value in constants:
        v = np.asarray(value) if isinstance(value, np.ndarray | np.generic | float) else None
        if v is not None and v.dtype == np.float32 and v.size:
            magnitude = np.abs(v)
            if np.max(magnitude[magnitude < 1e38], initial=0.0) > FP16_MAX:
                return True
    return False


@dataclass
class RandomRounding:
    """The rounding noise of run `run` of `runs`, repeatable from its seed.

    The runs are stratified: every run draws the same uniform number u for a value (one generator, seeded
    `seed`, drawn in the program's order) and uses frac(u + run / runs), so each run still rounds a value up
    with its probability p, and among the runs about p * runs do. Drawn apart, 8 runs rounding a value 2/3 of a
    step from its lower neighbour all went up one time in 30: on such a case the spread vanished, and a value
    that cancellation amplifies later (a sum of 4,096 values less 2,048) was called beyond precision."""

    seed: int
    precision: str = "fp16"  # the precision every value is rounded to at random: "fp16" or "fp32"
    run: int = 0
    runs: int = 1
    #: MIL value names an fp16 program keeps in float32 on purpose (`api.apply_advice`'s `fp32_ops`): their ops run
    #: as an op coremltools keeps there does (`op_kept_fp32`), or a run overflows where the program does not
    kept: frozenset[str] = frozenset()
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)

    def uniform(self, shape) -> np.ndarray:
        """Uniform in [0, 1): this run's stratum of the draw every run makes for these values."""
        return (self.rng.random(shape) + self.run / self.runs) % 1.0

    def round(self, x: np.ndarray) -> np.ndarray:
        """`x` rounded at random to this run's precision."""
        return self.fp16(x) if self.precision == "fp16" else self.fp32(x)

    def fp16(self, x: np.ndarray) -> np.ndarray:
        """float32 values rounded stochastically to float16, held in float32 (as `round16` holds them)."""
        x = np.asarray(x, np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            near16 = x.astype(np.float16)
            near = near16.astype(np.float32)
            toward = np.where(near < x, np.float16(np.inf), np.float16(-np.inf)).astype(np.float16)
            other = np.nextafter(near16, toward).astype(np.float32)
            gap = np.abs(other - near)
            p = np.where(np.isfinite(gap) & (gap > 0) & np.isfinite(x), np.abs(x - near) / gap, 0.0)
        return np.where(self.uniform(x.shape) < p, other, near).astype(np.float32)

    def accumulated(self, total: np.ndarray, magnitude: np.ndarray, terms: int) -> np.ndarray:
        """A float32 sum of `terms` values (`magnitude`: the sum of their absolute values) with the error its
        additions can make, at random: up to U32 * sqrt(terms) * magnitude either way (a run of stochastic rounding
        of every partial sum reaches about that). Only the result was rounded before: a runtime summing 4,096 values
        in another order (2 float32 steps at 2,048) was beyond a spread of one. fp16 runs round sums themselves."""
        if self.precision != "fp32" or terms < 2:
            return total
        reach = U32 * np.sqrt(terms) * np.asarray(magnitude, np.float64)
        xi = 2.0 * self.uniform(np.shape(total)) - 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            return (np.asarray(total, np.float64) + xi * reach).astype(np.float32)

    def fp32(self, x: np.ndarray) -> np.ndarray:
        """float32 values with MCA's random rounding at float32's precision."""
        x = np.asarray(x)
        xi = 2.0 * self.uniform(x.shape) - 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            return (x.astype(np.float64) * (1.0 + U32 * xi)).astype(x.dtype)


def rounding_spread(samples: Sequence[np.ndarray]) -> np.ndarray | float:
    """Per element, how far rounding alone moves a program's result: the largest distance of a Monte Carlo run
    from the runs' mean. Measured around the program's own mean, not from float64, so a program that computes
    something else (a wrong weight, a wrong op) moves its mean, never its spread; runs that overflow add none."""
    if not samples:
        return 0.0
    runs = np.stack([np.asarray(s, np.float64) for s in samples])
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(runs).all(axis=0)
        mean = np.where(finite, runs.mean(axis=0), 0.0)
        spread = np.abs(runs - mean).max(axis=0)
    return np.where(finite, spread, 0.0)

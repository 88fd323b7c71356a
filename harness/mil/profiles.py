"""Precision profiles: how values typed fp16 in a program are stored and summed.

Devices differ, so the interpreter offers three emulations (bounds, not device-exact):

- `fp32`: every value computed and stored in float32; casts to fp16 are no-ops. How the
  CPU ran fp16 programs on older OS versions. Weights stored as fp16 keep their fp16 values.
- `fp16-storage`: values typed fp16 are rounded to float16 after the op that makes them;
  conv, linear, matmul and reductions accumulate in float32. Like the GPU by default.
- `fp16`: fp16 storage, and sums accumulate in float16 too: a pessimistic stand-in for the
  Neural Engine, summing in blocks as a multiply-accumulate array does.

The `fp16` profile's summation model (a modelling decision; Apple does not document the
Neural Engine's adder). A dot product or reduction of K fp16 terms is cut, in the op's own
order, into blocks of `FP16_BLOCK` = 32 terms. Within a block the products (exact: two
11-bit significands fit float32's 24) are summed in float32, as a MAC array's wide adder
tree does; each block's sum is rounded to fp16 and added to an fp16 running sum, rounded
after every addition. With u16 = 2^-11 and u32 = 2^-24 (unit roundoffs), m = ceil(K / 32):

    |computed - exact| <= (gamma16(m) + gamma32(32) * (1 + gamma16(m))) * sum |a_i * b_i|,
    gamma(n) = n * u / (1 - n * u)

about (m * 2^-11 + 2^-19) * sum|a_i b_i|: m fp16 roundings where sequential fp16
summation (every partial sum rounded) makes K - 1, and pairwise ceil(log2 K). Sequential
summation is not kept: its bound is the largest, but a device that sums in another order
does not stay within the sequential result's error, so it is no bound on what a device
returns, and its cost (K passes over the output) grew with the model. Sums of fp16 terms
are computed in float32 and rounded to float16: for +, -, x and / that equals the float16
operation exactly (24 >= 2 * 11 + 2 bits, so the double rounding is innocuous), which
`tests/harness/mil/test_profiles.py` checks exhaustively over sampled exponent ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError

#: Terms summed in float32 before one rounding to fp16 under the `fp16` profile (see above).
FP16_BLOCK = 32


@dataclass(frozen=True)
class Profile:
    name: str
    store_fp16: bool
    accumulate_fp16: bool
    emulates: str


PROFILES: dict[str, Profile] = {
    p.name: p for p in (
        Profile("fp32", False, False, "CPU running fp16 programs in float32 (older OS versions)"),
        Profile("fp16-storage", True, False, "GPU: fp16 tensors, float32 accumulation"),
        Profile("fp16", True, True, "Neural Engine, pessimistic: fp16 storage, fp16 sums of 32-term blocks"),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown precision profile {name!r}; known: {', '.join(PROFILES)}") from None

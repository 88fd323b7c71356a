"""Precision profiles: how values typed fp16 in a program are stored and summed.

Devices differ, so the interpreter offers three emulations (bounds, not device-exact):

- `fp32`: every value computed and stored in float32; casts to fp16 are no-ops. How the
  CPU ran fp16 programs on older OS versions. Weights stored as fp16 keep their fp16 values.
- `fp16-storage`: values typed fp16 are rounded to float16 after the op that makes them;
  conv, linear, matmul and reductions accumulate in float32. Like the GPU by default.
- `fp16`: fp16 storage, and sums accumulate in float16 too (every partial sum rounded):
  a pessimistic stand-in for the Neural Engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError


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
        Profile("fp16", True, True, "Neural Engine, pessimistic: fp16 storage and accumulation"),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown precision profile {name!r}; known: {', '.join(PROFILES)}") from None

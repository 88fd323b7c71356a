"""localize: the first op that diverges, overflow named."""

from __future__ import annotations

import numpy as np
from coremltools.converters.mil import Builder as mb

from harness.mil.localize import localize


def amplifier(x):
    h = mb.cast(x=x, dtype="fp16")
    h = mb.add(x=h, y=np.float16(1.0))
    h = mb.mul(x=h, y=np.float16(1000.0))  # overflows fp16 where |x + 1| > 65.5
    h = mb.layer_norm(x=h, axes=[-1], epsilon=np.float16(1e-5))
    return mb.cast(x=h, dtype="fp32")


def test_localize_names_the_overflowing_op(run_mil):
    x = np.array([[1.0, 2.0, 80.0, -3.0]], np.float32)
    _, _, program = run_mil(amplifier, {"x": x}, capture=True)
    result = localize(program, {program.inputs[0][0]: x}, "fp32", "fp16-storage")
    assert not result
    assert result.first.op_type == "mul" and result.first.overflow == 1
    assert "first divergent op" in result.render() and "values overflow" in result.render()
    layer_norm = next(o for o in result.ops if o.op_type == "layer_norm")
    assert layer_norm.overflow == 4  # inf in the mean makes every output NaN


def test_localize_passes_when_values_stay_in_range(run_mil):
    x = np.array([[0.01, 0.02, 0.03, -0.03]], np.float32)
    _, _, program = run_mil(amplifier, {"x": x}, capture=True)
    result = localize(program, {program.inputs[0][0]: x}, "fp32", "fp16-storage")
    assert result and result.first is None
    assert all(o.rel < 0.01 for o in result.ops)

"""iOS18 read_state / write_state (coremltools' `coreml_update_state`, which its backend writes as write_state then
read_state) over sequences of runs sharing one state, on Hypothesis-drawn shapes."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types
from hypothesis import given
from hypothesis import strategies as st

from harness.mil import Interpreter, get_profile
from tests.harness.mil.conftest import SEEDS, convert, op_settings


def accumulator(shape):
    """state += x; returns the new state (read back through the update's read_state)."""

    @mb.program(input_specs=[mb.state_tensor_placeholder(shape=shape, dtype=types.fp16),
                             mb.TensorSpec(shape=shape, dtype=types.fp16)], opset_version=ct.target.iOS18)
    def prog(state, x):
        return mb.coreml_update_state(state=state, value=mb.add(x=mb.read_state(input=state), y=x))

    return convert(prog, ct.target.iOS18)


@op_settings
@given(seed=SEEDS, shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), calls=st.integers(1, 5),
       profile=st.sampled_from(["fp32", "fp16-storage"]))
def test_read_state_and_write_state_carry_a_sum_across_runs(seed, shape, calls, profile):
    program = accumulator(shape)
    assert {"read_state", "write_state"} <= program.op_types()
    interpreter = Interpreter(program, get_profile(profile))
    state = interpreter.make_state()
    rng = np.random.default_rng(seed)
    total = np.zeros(shape, np.float16)
    for _ in range(calls):
        x = rng.normal(size=shape).astype(np.float16)
        total = (total.astype(np.float32) + x.astype(np.float32)).astype(np.float16)  # the state is fp16 memory
        got = next(iter(interpreter.run({"x": x}, state=state).outputs.values()))
        np.testing.assert_array_equal(got, total)
        np.testing.assert_array_equal(state.read(state.names[0]), total)

"""Stateful programs (iOS18 `ct.StateType`): torch models whose registered buffers become Core ML states,
converted for real and run over sequences of calls, against torch making the same calls.

Core ML keeps a state in its declared dtype, fp16 (coremltools accepts no other), so the torch
reference rounds what it stores in a buffer to fp16 (`store`), exactly as the program's
write_state does; everything else is fp32 on both sides.
"""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.mil import Interpreter, get_profile, load_program
from harness.mil.state import StateError
from tests.harness.mil.conftest import FP32_TOL


def fp16_memory(value: torch.Tensor) -> torch.Tensor:
    return value.half().float()


class RunningStats(torch.nn.Module):
    """Exponential moving mean and mean square of the batches seen so far; standardises each batch with them."""

    store = staticmethod(lambda value: value)  # the reference stores through fp16_memory

    def __init__(self, features=5, momentum=0.25):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(1, features))
        self.register_buffer("square", torch.ones(1, features))  # not Core ML's zeros: the app must write it

    def forward(self, x):
        m = self.momentum
        self.mean[:, :] = self.store(self.mean * (1 - m) + m * x.mean(0, keepdim=True))
        self.square[:, :] = self.store(self.square * (1 - m) + m * (x * x).mean(0, keepdim=True))
        return (x - self.mean) / torch.sqrt(self.square - self.mean * self.mean + 1e-3)


class KVCache(torch.nn.Module):
    """One attention head over a key/value cache: each call appends the new tokens' keys and values at the
    positions the mask's length implies (slice_update at run-time positions) and attends over the cache so far."""

    store = staticmethod(lambda value: value)

    def __init__(self, dim=8, max_len=6):
        super().__init__()
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))
        self.register_buffer("k_cache", torch.zeros(1, max_len, dim))
        self.register_buffer("v_cache", torch.zeros(1, max_len, dim))

    def forward(self, x, mask):
        end = mask.shape[-1]
        past = end - x.shape[1]
        self.k_cache[:, past:end, :] = self.store(self.k(x))
        self.v_cache[:, past:end, :] = self.store(self.v(x))
        return F.scaled_dot_product_attention(self.q(x), self.k_cache[:, :end], self.v_cache[:, :end], attn_mask=mask)


def convert(model, example, inputs):
    """The model traced and converted at iOS18, every buffer declared as an fp16 state."""
    states = [ct.StateType(wrapped_type=ct.TensorType(shape=b.shape, dtype=np.float16), name=name)
              for name, b in model.named_buffers()]
    converted = ct.convert(torch.jit.trace(model, example), inputs=inputs, states=states,
                           minimum_deployment_target=ct.target.iOS18, compute_precision=ct.precision.FLOAT32)
    return load_program(converted.package_path)


def reference_of(model_cls, model):
    """A copy of `model` (same weights, buffers as at conversion) that stores its buffers as fp16 values."""
    ref = model_cls().eval()
    ref.load_state_dict(model.state_dict())
    ref.store = fp16_memory
    return ref


@pytest.fixture(scope="module")
def running_stats():
    torch.manual_seed(0)
    model = RunningStats().eval()
    ref = reference_of(RunningStats, model)
    program = convert(model, torch.randn(4, 5), [ct.TensorType(shape=(4, 5), name="x")])
    return program, ref


@pytest.fixture(scope="module")
def kv_cache():
    torch.manual_seed(1)
    model = KVCache().eval()
    ref = reference_of(KVCache, model)
    program = convert(model, (torch.randn(1, 1, 8), torch.zeros(1, 1, 2)),
                      [ct.TensorType(shape=(1, 1, 8), name="x"), ct.TensorType(shape=(1, 1, ct.RangeDim(1, 6)),
                                                                                   name="mask")])
    return program, ref


def test_the_program_declares_its_buffers_as_fp16_states(running_stats, kv_cache):
    assert [(n, t.dtype, t.shape) for n, t in running_stats[0].states] == [
        ("mean", "FLOAT16", (1, 5)), ("square", "FLOAT16", (1, 5))]
    assert [n for n, _ in kv_cache[0].inputs] == ["x", "mask"]
    assert {"read_state", "write_state", "slice_update", "scaled_dot_product_attention"} <= kv_cache[0].op_types()


def run(interpreter, state, **feeds):
    return next(iter(interpreter.run({k: v.numpy() for k, v in feeds.items()}, state=state).outputs.values()))


def test_running_statistics_follow_torch_over_a_sequence_of_calls(running_stats):
    program, ref = running_stats
    interpreter = Interpreter(program, get_profile("fp32"))
    state = interpreter.make_state()
    np.testing.assert_array_equal(state.read("square"), np.zeros((1, 5), np.float16))  # Core ML starts at zeros
    state.write("square", ref.square.numpy())  # torch's initial value, written as an app would
    for call in range(6):
        x = torch.randn(4, 5, generator=torch.Generator().manual_seed(call)) * (call + 1)
        got = run(interpreter, state, x=x)
        with torch.no_grad():
            want = ref(x).numpy()
        np.testing.assert_allclose(got, want, **FP32_TOL, err_msg=f"call {call}")
        np.testing.assert_array_equal(state.read("mean"), ref.mean.numpy().astype(np.float16))
        np.testing.assert_array_equal(state.read("square"), ref.square.numpy().astype(np.float16))
    alone = run(interpreter, interpreter.make_state(), x=x)  # the last batch with fresh (zero) buffers
    assert not np.allclose(alone, got)


def test_a_kv_cache_attends_over_every_token_so_far_as_torch_does(kv_cache):
    program, ref = kv_cache
    interpreter = Interpreter(program, get_profile("fp32"))
    state = interpreter.make_state()
    for step in range(6):
        x, mask = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(step)), torch.zeros(1, 1, step + 1)
        got = run(interpreter, state, x=x, mask=mask)
        with torch.no_grad():
            want = ref(x, mask).numpy()
        np.testing.assert_allclose(got, want, **FP32_TOL, err_msg=f"step {step}")
        np.testing.assert_array_equal(state.read("k_cache"), ref.k_cache.numpy().astype(np.float16))
    assert np.count_nonzero(state.read("v_cache").any(axis=-1)) == 6  # one cache row written per step


def test_two_states_of_one_program_do_not_share_buffers(kv_cache):
    program, _ = kv_cache
    interpreter = Interpreter(program, get_profile("fp32"))
    first, second = interpreter.make_state(), interpreter.make_state()
    x = torch.randn(1, 1, 8)
    run(interpreter, first, x=x, mask=torch.zeros(1, 1, 1))
    assert first.read("k_cache").any() and not second.read("k_cache").any()


@pytest.mark.parametrize("profile", ["fp16-storage", "fp16"])
def test_the_fp16_profiles_run_a_sequence_with_the_same_fp16_buffers(kv_cache, profile):
    program, _ = kv_cache
    interpreter = Interpreter(program, get_profile(profile))
    state = interpreter.make_state()
    for step in range(3):
        out = run(interpreter, state, x=torch.randn(1, 1, 8), mask=torch.zeros(1, 1, step + 1))
        assert np.isfinite(out).all()
    assert state.read("k_cache").dtype == np.float16
    assert np.count_nonzero(state.read("k_cache").any(axis=-1)) == 3


def test_a_stateful_program_run_without_its_state_says_what_to_pass(running_stats):
    interpreter = Interpreter(running_stats[0], get_profile("fp32"))
    with pytest.raises(StateError, match=r"declares state\(s\) \['mean', 'square'\]; pass state=interpreter"):
        interpreter.run({"x": np.zeros((4, 5), np.float32)})


def test_a_state_made_for_another_program_is_refused(running_stats, kv_cache):
    other = Interpreter(kv_cache[0], get_profile("fp32")).make_state()
    with pytest.raises(StateError, match="the state was made for"):
        Interpreter(running_stats[0], get_profile("fp32")).run({"x": np.zeros((4, 5), np.float32)}, state=other)


def test_writes_name_a_wrong_buffer_or_shape(running_stats):
    state = Interpreter(running_stats[0], get_profile("fp32")).make_state()
    with pytest.raises(StateError, match="no state named 'var'; the program declares \\['mean', 'square'\\]"):
        state.write("var", np.zeros((1, 5)))
    with pytest.raises(StateError, match=r"state 'mean' has shape \[1, 5\]; a value of shape \[5\]"):
        state.write("mean", np.zeros(5))


def test_a_stateless_program_has_an_empty_state_that_changes_nothing(run_mil):
    from coremltools.converters.mil import Builder as mb

    outs, _, program = run_mil(lambda x: mb.relu(x=x), {"x": np.float32([[-1, 2]])}, capture=True)
    interpreter = Interpreter(program, get_profile("fp32"))
    state = interpreter.make_state()
    assert state.names == []
    np.testing.assert_array_equal(interpreter.run({"x": np.float32([[-1, 2]])}, state=state).outputs[
        program.main.outputs[0]], [[0, 2]])

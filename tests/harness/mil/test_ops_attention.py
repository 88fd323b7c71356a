"""iOS18 scaled_dot_product_attention against torch's, on random shapes and masks, and an attention model
converted for real at iOS18 (where coremltools emits the fused op)."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import FP32_TOL, SEEDS, op_settings, rand, t

IOS18 = ct.target.iOS18


@op_settings
@given(seed=SEEDS, batch=st.sampled_from([(1,), (2,), (2, 3)]), lq=st.integers(1, 6), ls=st.integers(1, 7),
       e=st.integers(1, 9), ev=st.integers(1, 5), mask=st.sampled_from([None, "bool", "float"]))
def test_scaled_dot_product_attention_matches_torch(run_mil, seed, batch, lq, ls, e, ev, mask):
    q, k, v = rand(seed, *batch, lq, e), rand(seed + 1, *batch, ls, e), rand(seed + 2, *batch, ls, ev)
    inputs = {"q": q, "k": k, "v": v}
    if mask == "bool":
        m = np.random.default_rng(seed).random((lq, ls)) < 0.7
        m[:, 0] = True  # every query attends somewhere
        inputs["m"] = m
    elif mask == "float":
        inputs["m"] = rand(seed + 3, lq, ls)
    if mask is None:
        got = run_mil(lambda q, k, v: mb.scaled_dot_product_attention(query=q, key=k, value=v), inputs, opset=IOS18)
    else:
        got = run_mil(lambda q, k, v, m: mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=m),
                      inputs, opset=IOS18)
    ref = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=None if mask is None else t(inputs["m"]))
    np.testing.assert_allclose(got, ref.numpy(), **FP32_TOL)


def test_a_fully_masked_row_gives_nan_as_torchs_math_does(run_mil):
    q, k, v = rand(0, 1, 2, 3), rand(1, 1, 4, 3), rand(2, 1, 4, 2)
    m = np.array([[True, False, True, True], [False, False, False, False]])
    got = run_mil(lambda q, k, v, m: mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=m),
                  {"q": q, "k": k, "v": v, "m": m}, opset=IOS18)
    assert np.isfinite(got[0, 0]).all() and np.isnan(got[0, 1]).all()


class Attention(torch.nn.Module):
    """Multi-head self-attention through F.scaled_dot_product_attention, causal or with a padding mask."""

    def __init__(self, dim=16, heads=4, causal=False):
        super().__init__()
        self.qkv, self.out = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)
        self.heads, self.causal = heads, causal

    def forward(self, x, keep):
        b, n, d = x.shape
        q, k, v = (z.reshape(b, n, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).chunk(3, -1))
        mask = None if self.causal else keep[:, None, None, :] > 0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


@pytest.mark.parametrize("causal", [False, True])
def test_an_attention_model_converted_at_ios18_runs_the_fused_op_and_matches_torch(causal):
    from harness.mil import Interpreter, get_profile, load_program

    torch.manual_seed(0)
    model = Attention(causal=causal).eval()
    x = torch.randn(2, 5, 16)
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float32)
    converted = ct.convert(torch.jit.trace(model, (x, keep)), inputs=[ct.TensorType(shape=x.shape),
                                                                      ct.TensorType(shape=keep.shape)],
                           minimum_deployment_target=IOS18, compute_precision=ct.precision.FLOAT32)
    program = load_program(converted.package_path)
    assert "scaled_dot_product_attention" in program.op_types()
    feeds = dict(zip([n for n, _ in program.inputs], (x.numpy(), keep.numpy()), strict=True))
    got = next(iter(Interpreter(program, get_profile("fp32")).run(feeds).outputs.values()))
    np.testing.assert_allclose(got, model(x, keep).detach().numpy(), **FP32_TOL)


@pytest.mark.parametrize("profile", ["fp32", "fp16-storage", "fp16"])
@pytest.mark.parametrize("mask", [None, "float"])
def test_the_fused_op_equals_coremltools_decomposition_under_every_profile(run_mil, profile, mask):
    """The modelling assumption of op_scaled_dot_product_attention.py: an fp16 program's fused attention is
    computed, rounded and summed as the ops coremltools lowers it to before iOS18."""
    from coremltools.converters.mil.frontend import _utils

    inputs = {"q": rand(0, 2, 3, 40), "k": rand(1, 2, 70, 40), "v": rand(2, 2, 70, 8)}
    inputs = {name: value.astype(np.float16) for name, value in inputs.items()}
    if mask:
        inputs["m"] = rand(3, 3, 70).astype(np.float16)

    def fused(q, k, v, m):
        return mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=m)

    def decomposed(q, k, v, m):
        return _utils._decompose_scaled_dot_product_attention(q, k, v, m, "attention")

    def program(attention):  # the builder names a program's inputs after its function's parameters
        return (lambda q, k, v, m: attention(q, k, v, m)) if mask else (lambda q, k, v: attention(q, k, v, None))

    got = run_mil(program(fused), inputs, profile=profile, opset=IOS18)
    want = run_mil(program(decomposed), inputs, profile=profile, opset=ct.target.iOS17)
    np.testing.assert_array_equal(got, want)

"""fp16 storage, held as fp16 values in float32: bit for bit what storing float16 arrays gives.

The reference is the fp16-storage profile's definition: every op computed in float32 (convs
as plain im2col), its result stored as numpy's float16 (`astype`). The interpreter keeps those
values in float32, rounds them its own way (`round16`, conv results a few samples at a time,
none after relu and clip), and makes float16 arrays only for the trace and the outputs.
"""

from __future__ import annotations

import numpy as np
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand
from tests.harness.mil.test_plan import reference_conv


def stored16(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return v.astype(np.float16).astype(np.float32)


@op_settings
@given(seed=SEEDS, batch=st.sampled_from([1, 7, 64]), k=st.sampled_from([1, 3, 5]), dilation=st.integers(1, 3),
       bias=st.booleans(), scale=st.sampled_from([1.0, 3000.0]))
def test_an_fp16_conv_relu_clip_conv_chain_matches_float16_storage(run_mil, seed, batch, k, dilation, bias, scale):
    c, size = 16, 200  # a sample's windows are 16 * 200 * k floats: several chunks at batch 64
    x = rand(seed, batch, c, size, scale=scale)
    w1, w2 = rand(seed + 1, c, c, k).astype(np.float16), rand(seed + 2, c, c, k).astype(np.float16)
    b1, b2 = (rand(seed + 3, c).astype(np.float16), rand(seed + 4, c).astype(np.float16)) if bias else (None, None)
    pad = (k - 1) * dilation // 2
    attrs = dict(strides=[1], dilations=[dilation], pad_type="custom", pad=[pad, pad])

    def build(x):
        h = mb.conv(x=mb.cast(x=x, dtype="fp16"), weight=w1, **({"bias": b1} if bias else {}), **attrs)
        h = mb.clip(x=mb.relu(x=h), alpha=np.float16(0.25), beta=np.float16(3.5))
        return mb.cast(x=mb.conv(x=h, weight=w2, **({"bias": b2} if bias else {}), **attrs), dtype="fp32")

    outs, result, _ = run_mil(build, {"x": x}, profile="fp16-storage", capture=True)
    spatial = dict(strides=[1], pads=[(pad, pad)], dilations=[dilation])
    zeros = np.zeros(c, np.float32)

    def conv(v, w, b):
        return stored16(reference_conv(v, w.astype(np.float32), zeros if b is None else b.astype(np.float32),
                                       groups=1, **spatial))

    h = conv(stored16(x), w1, b1)
    h = stored16(np.clip(stored16(np.maximum(h, np.float32(0))), np.float32(0.25), np.float32(3.5)))
    want = conv(h, w2, b2)
    np.testing.assert_array_equal(outs[0].view(np.uint32), want.view(np.uint32))
    assert {result.trace[name].dtype for name, op in result.order if op in ("conv", "relu", "clip")} == {
        np.dtype(np.float16)}

"""Pooling (pad types, ceil_mode) and conv_transpose against torch."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.harness.mil.conftest import FP32_TOL, SEEDS, op_settings, rand, t

POOLS = {1: (F.max_pool1d, F.avg_pool1d, F.lp_pool1d), 2: (F.max_pool2d, F.avg_pool2d, F.lp_pool2d),
         3: (F.max_pool3d, F.avg_pool3d, None)}


def same_ceil_size(size, k, stride, pad) -> bool:
    """MIL's ceil_mode size drops a window that starts past the input only when there is padding; torch always.

    Where they differ the extra window holds nothing but padding, and the spec says nothing of its value.
    """
    out = -(-(size + 2 * pad - k) // stride) + 1
    return not ((out - 1) * stride >= size + pad and pad == 0)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2, 3]), k=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 1),
       ceil=st.booleans(), size=st.integers(4, 9))
def test_max_pool_matches_torch_with_padding_and_ceil_mode(run_mil, seed, nd, k, stride, pad, ceil, size):
    pad = min(pad, k // 2)
    assume(not (ceil and nd == 3))  # MIL's pools take ceil_mode in 1 and 2 dimensions only
    assume(not ceil or same_ceil_size(size, k, stride, pad))
    x = rand(seed, 2, 3, *([size] * nd), scale=3.0)
    got = run_mil(lambda x: mb.max_pool(x=x, kernel_sizes=[k] * nd, strides=[stride] * nd, pad_type="custom",
                                        pad=[pad] * (2 * nd), ceil_mode=ceil), {"x": x})
    ref = POOLS[nd][0](t(x), k, stride, pad, ceil_mode=ceil).numpy()
    np.testing.assert_array_equal(got, ref)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), k=st.integers(1, 4), stride=st.integers(1, 3),
       pad_type=st.sampled_from(["same", "same_lower", "valid"]), size=st.integers(4, 9))
def test_max_pool_same_padding_never_picks_padding(run_mil, seed, nd, k, stride, pad_type, size):
    """`same` pads so out = ceil(in / stride); the padding (never the max) goes after, or before for same_lower."""
    import coremltools as ct

    x = rand(seed, 1, 2, *([size] * nd), scale=3.0) - np.float32(10)  # all negative: a zero pad would win
    got = run_mil(lambda x: mb.max_pool(x=x, kernel_sizes=[k] * nd, strides=[stride] * nd, pad_type=pad_type), {"x": x},
                  opset=ct.target.iOS16)  # same_lower pools are iOS16+
    if pad_type == "valid":
        ref = POOLS[nd][0](t(x), k, stride).numpy()
    else:
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        lo, hi = (total - total // 2, total // 2) if pad_type == "same_lower" else (total // 2, total - total // 2)
        padded = F.pad(t(x), [lo, hi] * nd, value=-np.inf)
        ref = POOLS[nd][0](padded, k, stride).numpy()
        assert got.shape[2:] == (-(-size // stride),) * nd
    np.testing.assert_array_equal(got, ref)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), k=st.integers(1, 3), stride=st.integers(1, 3), size=st.integers(4, 9))
def test_l2_pool_is_the_root_of_the_windows_sum_of_squares(run_mil, seed, nd, k, stride, size):
    x = rand(seed, 2, 3, *([size] * nd), scale=2.0)
    got = run_mil(lambda x: mb.l2_pool(x=x, kernel_sizes=[k] * nd, strides=[stride] * nd, pad_type="valid"), {"x": x})
    np.testing.assert_allclose(got, POOLS[nd][2](t(x), 2, k, stride).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), k=st.integers(2, 3), stride=st.integers(1, 3), pad=st.integers(0, 1),
       exclude=st.booleans(), size=st.integers(4, 9))
def test_avg_pool_ceil_mode_matches_torch(run_mil, seed, nd, k, stride, pad, exclude, size):
    pad = min(pad, k // 2)
    assume(same_ceil_size(size, k, stride, pad))
    x = rand(seed, 2, 3, *([size] * nd))
    got = run_mil(lambda x: mb.avg_pool(x=x, kernel_sizes=[k] * nd, strides=[stride] * nd, pad_type="custom",
                                        pad=[pad] * (2 * nd), exclude_padding_from_average=exclude, ceil_mode=True),
                  {"x": x})
    ref = POOLS[nd][1](t(x), k, stride, pad, ceil_mode=True, count_include_pad=not exclude).numpy()
    np.testing.assert_allclose(got, ref, **FP32_TOL)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2, 3]), groups=st.sampled_from([1, 2]), k=st.integers(1, 3),
       stride=st.integers(1, 3), dilation=st.integers(1, 2), pad=st.integers(0, 2), out_pad=st.integers(0, 2),
       bias=st.booleans(), with_shape=st.booleans())
def test_conv_transpose_matches_torch(run_mil, seed, nd, groups, k, stride, dilation, pad, out_pad, bias, with_shape):
    """pad crops the full output; output_shape (torch's output_padding) extends it after the crop."""
    assume(out_pad < max(stride, dilation))  # torch's rule for output_padding
    if not with_shape:
        out_pad = 0
    size = 5 if nd < 3 else 3
    cin, cout = 2 * groups, 3 * groups
    x = rand(seed, 2, cin, *([size] * nd))
    w = rand(seed + 1, cin, cout // groups, *([k] * nd))
    b = rand(seed + 2, cout)
    assume((size - 1) * stride - 2 * pad + dilation * (k - 1) + out_pad + 1 > 0)
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    ref = conv(t(x), t(w), t(b) if bias else None, stride=stride, padding=pad, output_padding=out_pad, groups=groups,
               dilation=dilation).numpy()

    def build(x):
        return mb.conv_transpose(x=x, weight=w, bias=b if bias else None, pad_type="custom", pad=[pad] * (2 * nd),
                                 strides=[stride] * nd, dilations=[dilation] * nd, groups=groups,
                                 output_shape=list(ref.shape) if with_shape else None)

    np.testing.assert_allclose(run_mil(build, {"x": x}), ref, rtol=1e-5, atol=1e-5)


@op_settings
@given(seed=SEEDS, k=st.integers(1, 4), stride=st.integers(1, 3), size=st.integers(2, 6))
def test_conv_transpose_same_crops_the_full_output_to_in_times_stride(run_mil, seed, k, stride, size):
    """`same`: out = in * stride, the full output cropped (k - stride) // 2 first, zero-extended if short.

    An assumption (the gradient of a `same` conv, TF's SAME transpose); the spec gives only the size.
    """
    y = rand(seed, 1, 3, size)
    w = rand(seed + 1, 3, 2, k)
    got = run_mil(lambda y: mb.conv_transpose(x=y, weight=w, pad_type="same", strides=[stride]), {"y": y})
    full = F.conv_transpose1d(t(y), t(w), stride=stride)
    total = max(k - stride, 0)
    ref = F.pad(full, [0, size * stride])[..., total // 2 : total // 2 + size * stride]
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-5)

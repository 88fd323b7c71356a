"""Tensor building, reordering and slicing ops against torch (index-by-index loops where torch has no twin)."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import get_new_symbol
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t


@op_settings
@given(seed=SEEDS, lower=st.integers(-1, 3), upper=st.integers(-1, 3))
def test_band_part_keeps_the_band(run_mil, seed, lower, upper):
    x = rand(seed, 2, 4, 5)
    ref = t(x)
    if upper >= 0:
        ref = torch.tril(ref, upper)
    if lower >= 0:
        ref = torch.triu(ref, -lower)
    np.testing.assert_array_equal(run_mil(lambda x: mb.band_part(x=x, lower=lower, upper=upper), {"x": x}), ref.numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), exclusive=st.booleans(), reverse=st.booleans())
def test_cumsum_matches_torch(run_mil, seed, axis, exclusive, reverse):
    x = rand(seed, 3, 4, 5)
    got = run_mil(lambda x: mb.cumsum(x=x, axis=axis, exclusive=exclusive, reverse=reverse), {"x": x})
    xt = torch.flip(t(x), [axis]) if reverse else t(x)
    ref = torch.cumsum(xt.double(), axis) - (xt.double() if exclusive else 0)
    ref = torch.flip(ref, [axis]) if reverse else ref
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-5)


@op_settings
@given(seed=SEEDS)
def test_non_zero_lists_indices_row_major(run_mil, seed):
    x = (np.random.default_rng(seed).random((3, 4, 2)) < 0.4).astype(np.float32)
    np.testing.assert_array_equal(run_mil(lambda x: mb.non_zero(x=x), {"x": x}), torch.nonzero(t(x)).numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([-1, 0, 1]), on=st.sampled_from([1.0, 5.0]), off=st.sampled_from([0.0, -1.0]))
def test_one_hot_along_any_axis(run_mil, seed, axis, on, off):
    idx = np.random.default_rng(seed).integers(0, 5, size=(3, 2)).astype(np.int32)
    got = run_mil(lambda i: mb.one_hot(indices=i, one_hot_vector_size=5, axis=axis, on_value=np.float32(on),
                                       off_value=np.float32(off)), {"i": idx})
    hot = F.one_hot(t(idx).long(), 5).movedim(-1, axis % 3)
    np.testing.assert_array_equal(got, torch.where(hot == 1, on, off).numpy())


@op_settings
@given(seed=SEEDS, mode=st.sampled_from(["constant", "reflect", "replicate"]), pads=st.lists(st.integers(0, 2),
                                                                                             min_size=4, max_size=4),
       value=st.sampled_from([0.0, 2.5]))
def test_pad_modes_match_torch(run_mil, seed, mode, pads, value):
    x = rand(seed, 2, 3, 4, 5)
    got = run_mil(lambda x: mb.pad(x=x, pad=np.array(pads, np.int32), mode=mode, constant_val=np.float32(value)),
                  {"x": x})
    torch_pads = [pads[2], pads[3], pads[0], pads[1]]  # torch lists the last axis first
    ref = F.pad(t(x), torch_pads, mode=mode, value=value) if mode == "constant" else F.pad(t(x), torch_pads, mode=mode)
    np.testing.assert_array_equal(got, ref.numpy())


@op_settings
@given(start=st.integers(-5, 5), length=st.integers(1, 9), step=st.sampled_from([1, 2, 3, -1, -2]))
def test_range_1d_from_runtime_scalars(run_mil, start, length, step):
    end = start + length * step
    got = run_mil(lambda s: mb.range_1d(start=mb.squeeze(x=s), end=np.int32(end), step=np.int32(step)),
                  {"s": np.array([start], np.int32)})
    np.testing.assert_array_equal(got, torch.arange(start, end, step).numpy())


def test_range_1d_floats(run_mil):
    got = run_mil(lambda s: mb.range_1d(start=mb.squeeze(x=s), end=np.float32(2.0), step=np.float32(0.3)),
                  {"s": np.array([-1.0], np.float32)})
    np.testing.assert_allclose(got, torch.arange(-1.0, 2.0, 0.3).numpy(), rtol=1e-6, atol=1e-6)


@op_settings
@given(seed=SEEDS, reps=st.lists(st.integers(1, 3), min_size=3, max_size=3))
def test_tile_matches_torch(run_mil, seed, reps):
    x = rand(seed, 2, 1, 3)
    got = run_mil(lambda x: mb.tile(x=x, reps=np.array(reps, np.int32)), {"x": x})
    np.testing.assert_array_equal(got, torch.tile(t(x), reps).numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, -1]), ascending=st.booleans(), ints=st.booleans())
def test_argsort_is_stable_in_either_order(run_mil, seed, axis, ascending, ints):
    x = np.random.default_rng(seed).integers(0, 4, size=(4, 6))  # ties everywhere
    x = x.astype(np.int32) if ints else x.astype(np.float32)
    got = run_mil(lambda x: mb.argsort(x=x, axis=axis, ascending=ascending), {"x": x})
    np.testing.assert_array_equal(got, torch.argsort(t(x), dim=axis, descending=not ascending, stable=True).numpy())


@op_settings
@given(seed=SEEDS, k=st.integers(1, 6), axis=st.sampled_from([0, 1, -1]), ascending=st.booleans())
def test_topk_values_and_indices(run_mil, seed, k, axis, ascending):
    x = rand(seed, 6, 7, 6)
    values, indices = run_mil(lambda x: mb.topk(x=x, k=k, axis=axis, ascending=ascending), {"x": x})
    ref = torch.topk(t(x), k, dim=axis, largest=not ascending, sorted=True)
    np.testing.assert_array_equal(values, ref.values.numpy())
    np.testing.assert_array_equal(indices, ref.indices.numpy())


def test_topk_ios16_can_skip_the_indices(run_mil):
    """(iOS17's k = -1, "all", cannot be converted: coremltools 9 types the output with a -1 dim.)"""
    x = rand(0, 3, 5)
    got = run_mil(lambda x: mb.topk(x=x, k=3, return_indices=False), {"x": x}, opset=ct.target.iOS17)
    np.testing.assert_array_equal(got, torch.topk(t(x), 3).values.numpy())


@op_settings
@given(seed=SEEDS, axis=st.integers(-3, 3))
def test_flatten2d_splits_the_shape_at_axis(run_mil, seed, axis):
    x = rand(seed, 2, 3, 4)
    split = axis + 3 if axis < 0 else axis
    got = run_mil(lambda x: mb.flatten2d(x=x, axis=axis), {"x": x})
    np.testing.assert_array_equal(got, t(x).reshape(int(np.prod(x.shape[:split])), -1).numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), n=st.integers(2, 3))
def test_concat_interleave_alternates_the_inputs(run_mil, seed, axis, n):
    xs = {f"x{i}": rand(seed + i, 2, 3, 4) for i in range(n)}

    def two(x0, x1):
        return mb.concat(values=(x0, x1), axis=axis, interleave=True)

    def three(x0, x1, x2):
        return mb.concat(values=(x0, x1, x2), axis=axis, interleave=True)

    got = run_mil(two if n == 2 else three, xs)
    stacked = torch.stack([t(v) for v in xs.values()], dim=axis % 3 + 1)
    shape = list(stacked.shape)
    shape[axis % 3] *= n
    del shape[axis % 3 + 1]
    np.testing.assert_array_equal(got, stacked.reshape(shape).numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 2, -1]), sizes=st.booleans())
def test_split_even_or_by_sizes(run_mil, seed, axis, sizes):
    x = rand(seed, 6, 2, 6)
    if sizes:
        got = run_mil(lambda x: mb.split(x=x, split_sizes=[1, 3, 2], axis=axis), {"x": x})
        ref = torch.split(t(x), [1, 3, 2], dim=axis)
    else:
        got = run_mil(lambda x: mb.split(x=x, num_splits=3, axis=axis), {"x": x})
        ref = torch.chunk(t(x), 3, dim=axis)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g, r.numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, 2, -1]))
def test_stack_and_identity(run_mil, seed, axis):
    a, b = rand(seed, 2, 3), rand(seed + 1, 2, 3)
    stacked, same = run_mil(lambda x, y: (mb.stack(values=[x, y], axis=axis), mb.identity(x=x)), {"x": a, "y": b})
    np.testing.assert_array_equal(stacked, torch.stack([t(a), t(b)], dim=axis).numpy())
    np.testing.assert_array_equal(same, a)


@op_settings
@given(seed=SEEDS, shape=st.sampled_from([[4, -1], [0, 0, -1], [-1], [2, 0, 2, 3], [1, 0, -1, 0]]))
def test_reshape_with_inferred_and_copied_dims(run_mil, seed, shape):
    """-1 is inferred; 0 copies the input's dim at the same place from the right (1 past its rank, iOS17)."""
    x = rand(seed, 2, 4, 3)
    if len(shape) != 3 and 0 in shape:
        got = run_mil(lambda x: mb.reshape(x=x, shape=np.array(shape, np.int32)), {"x": x}, opset=ct.target.iOS17)
    else:
        got = run_mil(lambda x: mb.reshape(x=x, shape=np.array(shape, np.int32)), {"x": x})
    dims = [2, 4, 3]
    want = [d if d != 0 else (dims[len(dims) - len(shape) + i] if len(dims) - len(shape) + i >= 0 else 1)
            for i, d in enumerate(shape)]
    np.testing.assert_array_equal(got, t(x).reshape(want).numpy())


def test_shapes_come_from_runtime_values_not_declared_ones(run_mil):
    """A symbolic batch: shape, fill and reshape read the fed tensor's shape when the program runs."""
    def build(x):
        s = mb.shape(x=x)
        batch = mb.slice_by_index(x=s, begin=[0], end=[1])
        flat = mb.reshape(x=x, shape=mb.concat(values=[batch, np.array([-1], np.int32)], axis=0))
        return flat, mb.fill(shape=s, value=np.float32(2.0))

    x = rand(0, 5, 3, 2)
    flat, filled = run_mil(build, {"x": x}, specs={"x": mb.TensorSpec(shape=(get_new_symbol(), 3, 2))})
    np.testing.assert_array_equal(flat, x.reshape(5, 6))
    np.testing.assert_array_equal(filled, np.full((5, 3, 2), 2.0))


@op_settings
@given(seed=SEEDS, axes=st.sampled_from([None, [1], [1, 3], [0, 1], [-1]]))
def test_squeeze_ignores_listed_axes_that_are_not_one(run_mil, seed, axes):
    x = rand(seed, 2, 1, 3, 1)
    kwargs = {} if axes is None else {"axes": axes}
    got = run_mil(lambda x: mb.squeeze(x=x, **kwargs), {"x": x})
    ref = t(x).squeeze() if axes is None else t(x).squeeze(tuple(axes))
    np.testing.assert_array_equal(got, ref.numpy())


@op_settings
@given(seed=SEEDS, begin=st.lists(st.integers(-3, 2), min_size=3, max_size=3),
       size=st.lists(st.integers(-1, 1), min_size=3, max_size=3))
def test_slice_by_size(run_mil, seed, begin, size):
    x = rand(seed, 3, 4, 5)
    size = [s if s != 0 else 1 for s in size]
    got = run_mil(lambda x: mb.slice_by_size(x=x, begin=np.array(begin, np.int32), size=np.array(size, np.int32)),
                  {"x": x})
    index = []
    for dim, b, n in zip(x.shape, begin, size, strict=True):
        b = b % dim
        index.append(slice(b, dim if n < 0 else b + n))
    np.testing.assert_array_equal(got, x[tuple(index)])


def _loop_depth_to_space(x, b):
    n, c, h, w = x.shape
    out = np.zeros((n, c // (b * b), h * b, w * b), x.dtype)
    for ni, ci, hi, wi, i, j in np.ndindex(n, c // (b * b), h, w, b, b):
        out[ni, ci, hi * b + i, wi * b + j] = x[ni, (i * b + j) * (c // (b * b)) + ci, hi, wi]
    return out


@op_settings
@given(seed=SEEDS, b=st.sampled_from([2, 3]))
def test_depth_to_space_and_space_to_depth_follow_tf_dcr_order(run_mil, seed, b):
    x = rand(seed, 2, 2 * b * b, 2, 3)
    up, down = run_mil(lambda x: (mb.depth_to_space(x=x, block_size=b),
                                  mb.space_to_depth(x=mb.depth_to_space(x=x, block_size=b), block_size=b)), {"x": x})
    np.testing.assert_array_equal(up, _loop_depth_to_space(x, b))
    np.testing.assert_array_equal(down, x)


@op_settings
@given(seed=SEEDS, f=st.sampled_from([2, 3]))
def test_pixel_shuffle_and_unshuffle_match_torch(run_mil, seed, f):
    x = rand(seed, 2, 2 * f * f, 3, 2)
    up, down = run_mil(lambda x: (mb.pixel_shuffle(x=x, upscale_factor=f),
                                  mb.pixel_unshuffle(x=mb.pixel_shuffle(x=x, upscale_factor=f),
                                                     downscale_factor=np.uint32(f))), {"x": x}, opset=ct.target.iOS16)
    np.testing.assert_array_equal(up, F.pixel_shuffle(t(x), f).numpy())
    np.testing.assert_array_equal(down, F.pixel_unshuffle(F.pixel_shuffle(t(x), f), f).numpy())


def test_space_to_batch_and_back_as_in_the_spec_example(run_mil):
    x = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8]]], [[[9, 10, 11, 12], [13, 14, 15, 16]]]], np.float32)
    expected = np.array([[[[0, 1, 3]]], [[[0, 9, 11]]], [[[0, 2, 4]]], [[[0, 10, 12]]],
                         [[[0, 5, 7]]], [[[0, 13, 15]]], [[[0, 6, 8]]], [[[0, 14, 16]]]], np.float32)
    batched, back = run_mil(lambda x: (
        mb.space_to_batch(x=x, block_shape=[2, 2], paddings=[[0, 0], [2, 0]]),
        mb.batch_to_space(x=mb.space_to_batch(x=x, block_shape=[2, 2], paddings=[[0, 0], [2, 0]]),
                          block_shape=[2, 2], crops=[[0, 0], [2, 0]])), {"x": x})
    np.testing.assert_array_equal(batched, expected)
    np.testing.assert_array_equal(back, x)


@op_settings
@given(seed=SEEDS, bh=st.integers(1, 3), bw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2))
def test_space_to_batch_places_each_block_by_the_tf_rule(run_mil, seed, bh, bw, ph, pw):
    h, w = 3 * bh, 3 * bw  # the padded size: a multiple of the block
    x = rand(seed, 2, 3, h - ph, w - pw)
    got = run_mil(lambda x: mb.space_to_batch(x=x, block_shape=[bh, bw], paddings=[[ph, 0], [0, pw]]), {"x": x})
    padded = np.pad(x, [(0, 0), (0, 0), (ph, 0), (0, pw)])
    n = x.shape[0]
    for b, c, i, j in np.ndindex(*got.shape):
        block, image = divmod(b, n)
        di, dj = divmod(block, bw)
        assert got[b, c, i, j] == padded[image, c, i * bh + di, j * bw + dj]


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), size=st.integers(1, 4), stride=st.integers(1, 3))
def test_sliding_windows_match_unfold(run_mil, seed, axis, size, stride):
    x = rand(seed, 5, 6, 4)
    got = run_mil(lambda x: mb.sliding_windows(x=x, axis=axis, size=size, stride=stride), {"x": x})
    ref = t(x).unfold(axis % 3, size, stride).movedim(-1, axis % 3 + 1)
    np.testing.assert_array_equal(got, ref.numpy())


@op_settings
@given(seed=SEEDS, lengths=st.lists(st.integers(0, 6), min_size=3, max_size=3), swap=st.booleans())
def test_reverse_sequence_flips_each_prefix(run_mil, seed, lengths, swap):
    x = rand(seed, 3, 6, 2) if not swap else rand(seed, 6, 3, 2)
    seq_axis, batch_axis = (1, 0) if not swap else (0, 1)
    got = run_mil(lambda x: mb.reverse_sequence(x=x, lengths=np.array(lengths, np.int32), seq_axis=seq_axis,
                                                batch_axis=batch_axis), {"x": x})
    ref = t(x).clone()
    for b, n in enumerate(lengths):
        row = ref.select(batch_axis, b)
        row.narrow(seq_axis - (seq_axis > batch_axis), 0, n).copy_(
            torch.flip(t(x).select(batch_axis, b).narrow(seq_axis - (seq_axis > batch_axis), 0, n),
                       [seq_axis - (seq_axis > batch_axis)]))
    np.testing.assert_array_equal(got, ref.numpy())


def test_reshape_like_and_fill_like_read_reference_shapes(run_mil):
    x, a, b = rand(0, 2, 15), rand(1, 2, 3, 4), rand(2, 1, 5, 1)

    def build(x, a, b):
        return (mb.reshape_like(x=x, ref_tensors=(a, b), begins=(0, 1), ends=(2, 0), end_masks=(False, True)),
                mb.fill_like(ref_tensor=b, value=np.float32(7)))

    shaped, filled = run_mil(build, {"x": x, "a": a, "b": b}, opset=ct.target.iOS16)
    np.testing.assert_array_equal(shaped, x.reshape(2, 3, 5, 1))
    np.testing.assert_array_equal(filled, np.full((1, 5, 1), 7.0))


@pytest.mark.parametrize("dtype", [np.int32, np.bool_])
def test_shape_ops_carry_integers_and_bools(run_mil, dtype):
    x = np.random.default_rng(0).integers(0, 2, size=(2, 1, 3)).astype(dtype)

    def build(x):
        return mb.transpose(x=mb.expand_dims(x=mb.squeeze(x=x, axes=[1]), axes=[0]), perm=[2, 1, 0])

    np.testing.assert_array_equal(run_mil(build, {"x": x}), np.transpose(x.reshape(1, 2, 3), (2, 1, 0)))


def test_int32_and_bool_tensors_flow_through_the_ops_that_allow_them(run_mil):
    """Values compare exactly (a bool program output arrives as fp32: coremltools casts it)."""
    rng = np.random.default_rng(0)
    ints = rng.integers(-50, 50, size=(3, 4)).astype(np.int32)
    bools = rng.integers(0, 2, size=(3, 4)).astype(bool)

    def build(i, b):
        return (mb.tile(x=b, reps=[2, 1]), mb.band_part(x=i, lower=0, upper=1), mb.concat(values=(b, b), axis=0),
                mb.gather(x=i, indices=np.array([2, 0], np.int32), axis=0), mb.reverse(x=b, axes=[1]),
                mb.cumsum(x=i, axis=1), mb.topk(x=i, k=2)[0],
                mb.one_hot(indices=mb.abs(x=i), one_hot_vector_size=60, on_value=np.int32(7), off_value=np.int32(-1)),
                mb.fill(shape=np.array([2, 2], np.int32), value=np.int32(5)), mb.non_zero(x=b),
                mb.slice_by_size(x=b, begin=[1, 1], size=[2, -1]))

    got = run_mil(build, {"i": ints, "b": bools})
    want = (np.tile(bools, (2, 1)), np.triu(np.tril(ints, 1), 0), np.concatenate([bools, bools]), ints[[2, 0]],
            bools[:, ::-1], np.cumsum(ints, axis=1), -np.sort(-ints, axis=1)[:, :2],
            np.where(np.abs(ints)[..., None] == np.arange(60), 7, -1), np.full((2, 2), 5), np.argwhere(bools),
            bools[1:, 1:])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@st.composite
def slices(draw, shape):
    """slice_by_index arguments for x of `shape`: begin, end, stride, masks (one axis at most squeezed)."""
    rank = len(shape)
    begin = [draw(st.integers(-n, n - 1)) for n in shape]
    end = [draw(st.integers(-n, n)) for n in shape]
    stride = [draw(st.sampled_from([1, 1, 2, -1])) for _ in shape]
    begin_mask = [draw(st.booleans()) for _ in shape]
    end_mask = [draw(st.booleans()) for _ in shape]
    squeeze = [False] * rank
    axis = draw(st.integers(-1, rank - 1))
    if axis >= 0:
        squeeze[axis], stride[axis] = True, 1
    return begin, end, stride, begin_mask, end_mask, squeeze


@op_settings
@given(seed=SEEDS, data=st.data())
def test_slice_update_writes_the_slice_slice_by_index_reads(run_mil, seed, data):
    x = rand(seed, 3, 4, 5)
    begin, end, stride, begin_mask, end_mask, squeeze = data.draw(slices(x.shape))
    index = tuple(b if sq else slice(None if bm else b, None if em else e, s)
                  for b, e, s, bm, em, sq in zip(begin, end, stride, begin_mask, end_mask, squeeze, strict=True))
    shape = x[index].shape
    if not shape or 0 in shape:
        return  # coremltools refuses a rank-0 or empty update
    update = rand(seed + 1, *shape)
    args = dict(begin=np.array(begin, np.int32), end=np.array(end, np.int32), stride=np.array(stride, np.int32),
                begin_mask=begin_mask, end_mask=end_mask, squeeze_mask=squeeze)
    got = run_mil(lambda x, u: mb.slice_update(x=x, update=u, **args), {"x": x, "u": update}, opset=ct.target.iOS18)
    want = x.copy()
    want[index] = update
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run_mil(lambda x: mb.slice_by_index(x=x, **args), {"x": got}), update)


@pytest.mark.parametrize("position", [0, 3, 6])
def test_slice_update_at_a_runtime_position_writes_one_cache_row(run_mil, position):
    """A KV cache's write: begin and end come from the program's inputs."""
    cache, row = rand(0, 1, 2, 7, 4), rand(1, 1, 2, 1, 4)

    def build(cache, row, pos):
        begin = mb.concat(values=[np.zeros(2, np.int32), pos, np.zeros(1, np.int32)], axis=0)
        end = mb.concat(values=[np.array([1, 2], np.int32), mb.add(x=pos, y=1), np.array([4], np.int32)], axis=0)
        return mb.slice_update(x=cache, update=row, begin=begin, end=end)

    got = run_mil(build, {"cache": cache, "row": row, "pos": np.array([position], np.int32)}, opset=ct.target.iOS18)
    want = cache.copy()
    want[:, :, position] = row[:, :, 0]
    np.testing.assert_array_equal(got, want)

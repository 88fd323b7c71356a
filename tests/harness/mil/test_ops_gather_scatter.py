"""Gather and scatter ops against torch (index_select, take_along_dim, scatter_reduce, advanced indexing)."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), idx_shape=st.sampled_from([(), (3,), (2, 2)]))
def test_gather_takes_slices_with_negative_indices(run_mil, seed, axis, idx_shape):
    x = rand(seed, 3, 4, 5)
    n = x.shape[axis]
    idx = np.random.default_rng(seed).integers(-n, n, size=idx_shape).astype(np.int32)
    got = run_mil(lambda x: mb.gather(x=x, indices=idx, axis=axis), {"x": x})
    ref = torch.index_select(t(x), axis, t(idx % n).reshape(-1).long()).reshape(
        x.shape[: axis % 3] + idx_shape + x.shape[axis % 3 + 1 :])
    np.testing.assert_array_equal(got, ref.numpy())


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([1, 2]))
def test_gather_ios16_batch_dims(run_mil, seed, axis):
    """batch_dims=1: each batch row gathers with its own indices (tf.gather)."""
    x = rand(seed, 2, 4, 5)
    idx = np.random.default_rng(seed).integers(0, x.shape[axis], size=(2, 3)).astype(np.int32)
    got = run_mil(lambda x: mb.gather(x=x, indices=idx, axis=axis, batch_dims=1), {"x": x}, opset=ct.target.iOS16)
    ref = np.stack([np.take(x[b], idx[b], axis=axis - 1) for b in range(2)])
    np.testing.assert_array_equal(got, ref)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]))
def test_gather_along_axis_matches_take_along_dim(run_mil, seed, axis):
    x = rand(seed, 3, 4, 5)
    shape = list(x.shape)
    shape[axis] = 6
    idx = np.random.default_rng(seed).integers(0, x.shape[axis], size=shape).astype(np.int32)
    got = run_mil(lambda x: mb.gather_along_axis(x=x, indices=idx, axis=axis), {"x": x})
    np.testing.assert_array_equal(got, torch.take_along_dim(t(x), t(idx).long(), dim=axis).numpy())


@op_settings
@given(seed=SEEDS, k=st.integers(1, 3), batch=st.sampled_from([(), (2,), (2, 3)]))
def test_gather_nd_addresses_slices(run_mil, seed, k, batch):
    x = rand(seed, 3, 4, 5)
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.integers(0, x.shape[d], size=batch) for d in range(k)], axis=-1).astype(np.int32)
    got = run_mil(lambda x: mb.gather_nd(x=x, indices=idx), {"x": x})
    np.testing.assert_array_equal(got, x[tuple(idx[..., d] for d in range(k))])  # numpy's advanced indexing


def test_gather_nd_ios16_batch_dims(run_mil):
    x = rand(0, 2, 4, 5)
    idx = np.array([[[1], [3]], [[0], [2]]], np.int32)  # [batch 2, 2 rows, 1 coordinate]
    got = run_mil(lambda x: mb.gather_nd(x=x, indices=idx, batch_dims=1), {"x": x}, opset=ct.target.iOS16)
    np.testing.assert_array_equal(got, np.stack([x[0][[1, 3]], x[1][[0, 2]]]))


REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def _scatter_ref(data, dim, index, src, mode):
    d = t(data).clone()
    if mode == "update":
        return d.scatter(dim, index, src)
    if mode == "sub":
        return d.scatter_reduce(dim, index, -src, "sum")
    if mode == "div":
        return d.scatter_reduce(dim, index, 1 / src, "prod")
    return d.scatter_reduce(dim, index, src, REDUCE[mode])


MODES = st.sampled_from(["update", "add", "sub", "mul", "div", "max", "min"])


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), mode=MODES)
def test_scatter_along_axis_every_mode(run_mil, seed, axis, mode):
    """Distinct indices along the axis (a repeated index under `update` leaves the winner undefined)."""
    rng = np.random.default_rng(seed)
    data = rand(seed, 3, 4, 5)
    n = data.shape[axis]
    shape = list(data.shape)
    shape[axis] = 2
    idx = np.moveaxis(np.stack([rng.permutation(n)[:2] for _ in range(int(np.prod(shape)) // 2)]).reshape(
        [s for a, s in enumerate(shape) if a != axis % 3] + [2]), -1, axis).astype(np.int32)
    upd = rand(seed + 1, *shape) + np.float32(3)
    got = run_mil(lambda x: mb.scatter_along_axis(data=x, indices=idx, updates=upd, axis=axis, mode=mode), {"x": data})
    ref = _scatter_ref(data, axis % 3, t(idx).long(), t(upd), mode)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-6)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), mode=MODES, negative=st.booleans())
def test_scatter_rows_every_mode(run_mil, seed, axis, mode, negative):
    data = rand(seed, 4, 5, 3)
    n = data.shape[axis]
    idx = np.random.default_rng(seed).permutation(n)[:2].astype(np.int32)
    shape = list(data.shape)
    shape[axis] = 2
    upd = rand(seed + 1, *shape) + np.float32(3)
    fed = idx - n if negative else idx  # iOS15 counts negative indices from the end
    got = run_mil(lambda x: mb.scatter(data=x, indices=fed, updates=upd, axis=axis, mode=mode), {"x": data})
    index_shape = [1] * 3
    index_shape[axis % 3] = 2
    full = t(idx).long().reshape(index_shape).expand(*shape)
    np.testing.assert_allclose(got, _scatter_ref(data, axis % 3, full, t(upd), mode).numpy(), rtol=1e-6)


def test_scatter_add_accumulates_repeated_indices(run_mil):
    data = np.zeros((3, 2), np.float32)
    got = run_mil(lambda x: mb.scatter(data=x, indices=np.array([1, 1, 2], np.int32),
                                       updates=np.ones((3, 2), np.float32), mode="add"), {"x": data})
    np.testing.assert_array_equal(got, [[0, 0], [2, 2], [1, 1]])


@pytest.mark.parametrize("mode", ["update", "add", "mul", "max"])
@op_settings
@given(seed=SEEDS, k=st.integers(1, 3))
def test_scatter_nd_writes_slices(run_mil, mode, seed, k):
    rng = np.random.default_rng(seed)
    data = rand(seed, 3, 4, 5)
    rows = np.array(np.unravel_index(rng.permutation(int(np.prod(data.shape[:k])))[:3], data.shape[:k])).T
    idx = rows.astype(np.int32)  # [3, k], distinct rows
    upd = rand(seed + 1, 3, *data.shape[k:]) + np.float32(2)
    got = run_mil(lambda x: mb.scatter_nd(data=x, indices=idx, updates=upd, mode=mode), {"x": data})
    ref = t(data).clone()
    where = tuple(t(idx[:, d]).long() for d in range(k))
    ref[where] = {"update": lambda old, new: new, "add": torch.add, "mul": torch.mul, "max": torch.maximum}[mode](
        ref[where], t(upd))
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-6)


def test_gather_and_scatter_keep_int32(run_mil):
    x = np.arange(12, dtype=np.int32).reshape(3, 4)

    def build(x):
        g = mb.gather(x=x, indices=np.array([2, 0], np.int32), axis=0)
        return mb.scatter(data=x, indices=np.array([1], np.int32), updates=mb.slice_by_index(x=g, begin=[0, 0],
                                                                                              end=[1, 4]), mode="add")

    np.testing.assert_array_equal(run_mil(build, {"x": x}), x + np.array([[0], [1], [0]]) * x[2])



DATA = np.array([[1, 2, 3], [4, 5, 6]], np.float32)

#: iOS17's scatter ops, indices given at run time: op -> (op builder, valid indices, updates).
IOS17_SCATTERS = {
    "scatter": (mb.scatter, np.array([1, 0], np.int32), np.ones((2, 3), np.float32)),
    "scatter_along_axis": (mb.scatter_along_axis, np.array([[1, 0, 1], [0, 1, 0]], np.int32),
                           np.ones((2, 3), np.float32)),
    "scatter_nd": (mb.scatter_nd, np.array([[1, 0], [0, 2]], np.int32), np.ones(2, np.float32)),
}


@pytest.mark.parametrize("op", sorted(IOS17_SCATTERS))
@pytest.mark.parametrize("bad", [-1, 10])
def test_ios17_scatters_refuse_an_index_out_of_bounds_when_told_to_validate(run_mil, op, bad):
    """coremltools' defs/iOS17/scatter_gather.py: negative indices are out of bounds at iOS17, and with
    validate_indices the runtime raises (Apple's test_ios17_invalid_indices expects the prediction to fail)."""
    from harness.mil.interpreter import OpFailed
    from harness.mil.ops._scatter import InvalidIndices

    scatter, good, updates = IOS17_SCATTERS[op]

    def build(validate: bool):
        return lambda x, i, v: scatter(data=x, indices=i, updates=v, mode="update", validate_indices=validate)

    inputs = {"x": DATA, "i": good, "v": updates}
    expected = DATA.copy()
    if op == "scatter_along_axis":
        np.put_along_axis(expected, good, updates, axis=0)
    else:
        expected[tuple(good.T) if op == "scatter_nd" else good] = updates
    np.testing.assert_array_equal(run_mil(build(True), inputs, opset=ct.target.iOS17), expected)
    broken = good.copy()
    broken.flat[0] = bad
    with pytest.raises(OpFailed, match=f"index {bad} is out of bounds") as raised:
        run_mil(build(True), {**inputs, "i": broken}, opset=ct.target.iOS17)
    assert isinstance(raised.value.__cause__, InvalidIndices)
    if bad < 0:  # without validation a negative index is undefined: the interpreter counts it from the end
        run_mil(build(False), {**inputs, "i": broken}, opset=ct.target.iOS17)

"""iOS18 weight-compression ops (typed sub-byte data, per-block scales and tables, sparse-to-sparse forms, chains
of them) against coremltools' own `decompress`, each through a real conversion: small operands travel inline in
the program, larger ones through weights/weight.bin."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types
from coremltools.converters.mil.mil.ops.defs.iOS18 import compression
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings

IOS18 = ct.target.iOS18
FLOATS = {"fp16": np.float16, "fp32": np.float32}


def np_type(name: str):
    """numpy dtype coremltools uses for a MIL dtype name (sub-byte ones carry their width as metadata)."""
    return types.nptype_from_builtin(types.string_to_builtin(name))


def through_add(run_mil, make_weight, shape, dtype):
    """The decompressed constant read back through an add with zeros of its dtype (exact: x + 0 = x)."""
    return run_mil(lambda x: mb.add(x=x, y=make_weight()), {"x": np.zeros(shape, dtype)}, opset=IOS18)


def quantized(rng, name: str, shape) -> np.ndarray:
    low, high = {"int4": (-8, 7), "uint4": (0, 15), "int8": (-128, 127), "uint8": (0, 255)}[name]
    return rng.integers(low, high + 1, size=shape).astype(np_type(name))


def blocks(draw, shape):
    """A block count per axis that divides the axis (1: per tensor along it; the size: per element)."""
    return tuple(draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0])) for n in shape)


SHAPES = st.sampled_from([(2, 3), (4, 6), (8, 4, 2), (6, 10)])  # 6 values travel inline, the others in weight.bin


@op_settings
@given(seed=SEEDS, shape=SHAPES, data=st.data(), dtype=st.sampled_from(["int4", "uint4", "int8", "uint8"]),
       scale_dtype=st.sampled_from(list(FLOATS)), with_offset=st.booleans())
def test_constexpr_blockwise_shift_scale_matches_coremltools(run_mil, seed, shape, data, dtype, scale_dtype,
                                                             with_offset):
    rng = np.random.default_rng(seed)
    counts = blocks(data.draw, shape)
    q = quantized(rng, dtype, shape)
    scale = (rng.random(counts) + 0.01).astype(FLOATS[scale_dtype])
    offset = quantized(rng, dtype, counts) if with_offset else None
    got = through_add(run_mil, lambda: mb.constexpr_blockwise_shift_scale(data=q, scale=scale, offset=offset),
                      shape, FLOATS[scale_dtype])
    want = compression.constexpr_blockwise_shift_scale.decompress(q, scale, offset)
    np.testing.assert_array_equal(got, want)


def test_constexpr_blockwise_shift_scale_takes_float_offsets(run_mil):
    q = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    scale = np.array([[0.5], [2.0], [0.125]], np.float32)
    offset = np.array([[0.25], [-1.5], [3.0]], np.float32)
    got = through_add(run_mil, lambda: mb.constexpr_blockwise_shift_scale(data=q, scale=scale, offset=offset),
                      q.shape, np.float32)
    np.testing.assert_array_equal(got, (q - offset) * scale)


@op_settings
@given(seed=SEEDS, shape=SHAPES, data=st.data(), nbits=st.sampled_from([1, 2, 3, 4, 6, 8]),
       vector=st.sampled_from([1, 2, 3]), lut_dtype=st.sampled_from(list(FLOATS)))
def test_constexpr_lut_to_dense_ios18_matches_coremltools(run_mil, seed, shape, data, nbits, vector, lut_dtype):
    rng = np.random.default_rng(seed)
    counts = blocks(data.draw, shape)
    indices = rng.integers(0, 2**nbits, size=shape).astype(np_type(f"uint{nbits}"))
    lut = rng.normal(size=(*counts, 2**nbits, vector)).astype(FLOATS[lut_dtype])
    axis = data.draw(st.integers(-len(shape), len(shape) - 1)) if vector > 1 else None
    want = compression.constexpr_lut_to_dense.decompress(indices, lut, axis)
    got = through_add(run_mil, lambda: mb.constexpr_lut_to_dense(indices=indices, lut=lut, vector_axis=axis),
                      want.shape, FLOATS[lut_dtype])
    np.testing.assert_array_equal(got, want)


def test_constexpr_lut_to_dense_ios18_spec_example(run_mil):
    """The spec's case 1: two 2-bit tables over the first axis."""
    indices = np.array([2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]).reshape(6, 2).astype(np_type("uint2"))
    lut = np.array([1.0, 5.0, 9.0, 13.0, 2.0, 10.0, 18.0, 26.0], np.float16).reshape(2, 1, 4, 1)
    got = through_add(run_mil, lambda: mb.constexpr_lut_to_dense(indices=indices, lut=lut), (6, 2), np.float16)
    np.testing.assert_array_equal(got, [[9, 13], [13, 1], [5, 1], [26, 2], [18, 10], [2, 26]])


@op_settings
@given(seed=SEEDS, shape=SHAPES, density=st.floats(0.05, 1), dtype=st.sampled_from(list(FLOATS)))
def test_constexpr_sparse_to_dense_ios18_matches_coremltools(run_mil, seed, shape, density, dtype):
    rng = np.random.default_rng(seed)
    mask = (rng.random(shape) < density).astype(np_type("uint1"))
    mask.reshape(-1)[0] = 1  # coremltools refuses an all-zero mask
    nonzero = rng.normal(size=int(mask.sum())).astype(FLOATS[dtype])
    got = through_add(run_mil, lambda: mb.constexpr_sparse_to_dense(nonzero_data=nonzero, mask=mask), shape,
                      FLOATS[dtype])
    want = compression.constexpr_sparse_to_dense.decompress(nonzero, mask)
    np.testing.assert_array_equal(got, want)
    assert np.count_nonzero(got[mask == 0]) == 0


@op_settings
@given(seed=SEEDS, shape=SHAPES, data=st.data(), nbits=st.sampled_from([1, 2, 4, 6]), vector=st.sampled_from([1, 2]))
def test_constexpr_lut_to_sparse_then_sparse_to_dense_is_the_dense_lookup_where_the_mask_is_set(
        run_mil, seed, shape, data, nbits, vector):
    rng = np.random.default_rng(seed)
    counts = blocks(data.draw, shape)
    mask = (rng.random(shape) < 0.6).astype(np_type("uint1"))
    mask.reshape(-1)[0] = 1
    nonzero = rng.integers(0, 2**nbits, size=int(mask.sum())).astype(np_type(f"uint{nbits}"))
    lut = rng.normal(size=(*counts, 2**nbits, vector)).astype(np.float32)
    axis = data.draw(st.integers(0, len(shape) - 1)) if vector > 1 else None

    def weight():
        out_mask, values = mb.constexpr_lut_to_sparse(indices_mask=mask, indices_nonzero_data=nonzero, lut=lut,
                                                      vector_axis=axis)
        return mb.constexpr_sparse_to_dense(nonzero_data=values, mask=out_mask)

    want_mask, want_values = compression.constexpr_lut_to_sparse.decompress(mask, nonzero, lut, axis)
    want = compression.constexpr_sparse_to_dense.decompress(want_values, want_mask)
    got = through_add(run_mil, weight, want.shape, np.float32)
    np.testing.assert_array_equal(got, want)


@op_settings
@given(seed=SEEDS, shape=SHAPES, data=st.data(), dtype=st.sampled_from(["int4", "uint8"]),
       scale_dtype=st.sampled_from(list(FLOATS)))
def test_constexpr_sparse_blockwise_shift_scale_then_sparse_to_dense_matches_coremltools(
        run_mil, seed, shape, data, dtype, scale_dtype):
    rng = np.random.default_rng(seed)
    counts = blocks(data.draw, shape)
    mask = (rng.random(shape) < 0.5).astype(np_type("uint1"))
    mask.reshape(-1)[-1] = 1
    nonzero = quantized(rng, dtype, int(mask.sum()))
    scale = (rng.random(counts) + 0.01).astype(FLOATS[scale_dtype])
    offset = quantized(rng, dtype, counts)

    def weight():
        out_mask, values = mb.constexpr_sparse_blockwise_shift_scale(data_mask=mask, nonzero_data=nonzero,
                                                                     scale=scale, offset=offset)
        return mb.constexpr_sparse_to_dense(nonzero_data=values, mask=out_mask)

    want_mask, want_values = compression.constexpr_sparse_blockwise_shift_scale.decompress(mask, nonzero, scale,
                                                                                           offset)
    got = through_add(run_mil, weight, shape, FLOATS[scale_dtype])
    np.testing.assert_array_equal(got, compression.constexpr_sparse_to_dense.decompress(want_values, want_mask))


@op_settings
@given(seed=SEEDS, nbits=st.sampled_from([2, 4]), quant=st.sampled_from(["int8", "uint4"]))
def test_a_quantized_lut_chains_shift_scale_into_lut_to_dense(run_mil, seed, nbits, quant):
    """Joint compression: the table itself is quantized (lut int8 -> shift_scale -> lut_to_dense)."""
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, 2**nbits, size=(4, 6)).astype(np_type(f"uint{nbits}"))
    q = quantized(rng, quant, (2, 1, 2**nbits, 1))
    scale = np.full((1, 1, 1, 1), 0.5, np.float16)

    def weight():
        lut = mb.constexpr_blockwise_shift_scale(data=q, scale=scale)
        return mb.constexpr_lut_to_dense(indices=indices, lut=lut)

    lut = compression.constexpr_blockwise_shift_scale.decompress(q, scale, None)
    got = through_add(run_mil, weight, (4, 6), np.float16)
    np.testing.assert_array_equal(got, compression.constexpr_lut_to_dense.decompress(indices, lut, None))


def test_constexpr_cast_ios18_widens_fp16_weights(run_mil):
    w = np.array([[1.5, -2.25], [1e-3, 65504]], np.float16)
    got = through_add(run_mil, lambda: mb.constexpr_cast(source_val=w, output_dtype="fp32"), w.shape, np.float32)
    np.testing.assert_array_equal(got, w.astype(np.float32))

"""Every MIL op against torch or numpy, on random inputs, shapes and attribute variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from harness.mil.interpreter import UnsupportedOp
from harness.mil.ops import OPS
from tests.harness.mil.conftest import FP32_TOL, SEEDS, op_settings, rand, t


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), groups=st.sampled_from([1, 2]), k=st.integers(1, 4),
       stride=st.integers(1, 3), dilation=st.integers(1, 3),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       pad_type=st.sampled_from(["valid", "custom", "same"]), bias=st.booleans())
def test_conv(run_mil, seed, nd, groups, k, stride, dilation, pads, pad_type, bias):
    if pad_type == "same":
        stride = 1  # torch's "same" padding exists for stride 1
    cin, cout, size = 2 * groups, 2 * groups, 11
    x = rand(seed, 2, cin, *([size] * nd))
    w = rand(seed + 1, cout, cin // groups, *([k] * nd))
    b = rand(seed + 2, cout)
    pad = list(pads) * nd if pad_type == "custom" else [0] * (2 * nd)

    def build(x):
        return mb.conv(x=x, weight=w, bias=b if bias else None, strides=[stride] * nd, pad_type=pad_type,
                       pad=pad, dilations=[dilation] * nd, groups=groups)

    conv = F.conv1d if nd == 1 else F.conv2d
    xt = t(x)
    if pad_type == "custom":
        xt = F.pad(xt, [p for _ in range(nd) for p in pads])
    expected = conv(xt, t(w), t(b) if bias else None, stride=stride, dilation=dilation, groups=groups,
                    padding="same" if pad_type == "same" else 0).numpy()
    np.testing.assert_allclose(run_mil(build, {"x": x}), expected, **FP32_TOL)


@op_settings
@given(seed=SEEDS, batch=st.integers(1, 3), din=st.integers(1, 40), dout=st.integers(1, 8),
       bias=st.booleans())
def test_linear(run_mil, seed, batch, din, dout, bias):
    x, w, b = rand(seed, batch, 5, din), rand(seed + 1, dout, din), rand(seed + 2, dout)
    got = run_mil(lambda x: mb.linear(x=x, weight=w, bias=b if bias else None), {"x": x})
    np.testing.assert_allclose(got, F.linear(t(x), t(w), t(b) if bias else None).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, tx=st.booleans(), ty=st.booleans(), m=st.integers(1, 6), k=st.integers(1, 9))
def test_matmul_with_transposes_and_broadcast(run_mil, seed, tx, ty, m, k):
    a = rand(seed, 3, k, m) if tx else rand(seed, 3, m, k)
    b = rand(seed + 1, 4, k) if ty else rand(seed + 1, k, 4)
    got = run_mil(lambda x, y: mb.matmul(x=x, y=y, transpose_x=tx, transpose_y=ty), {"x": a, "y": b})
    ref = np.matmul(np.swapaxes(a, -1, -2) if tx else a, b.T if ty else b)
    np.testing.assert_allclose(got, ref, **FP32_TOL)


@pytest.mark.parametrize("shapes", [((4,), (4, 3)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_promotes_1d_operands_as_numpy_does(run_mil, shapes):
    """(A 1-D y cannot be converted: coremltools 9's type inference indexes y's second-last dim.)"""
    a, b = rand(0, *shapes[0]), rand(1, *shapes[1])
    got = run_mil(lambda x, y: mb.matmul(x=x, y=y), {"x": a, "y": b})
    np.testing.assert_allclose(got, torch.matmul(t(a), t(b)).numpy(), **FP32_TOL)


@pytest.mark.parametrize("equation, shapes", [
    ("nchw,nwhu->nchu", ((2, 3, 4, 5), (2, 5, 4, 6))), ("nchw,nwhu->nchu", ((1, 3, 4, 5), (2, 5, 1, 6))),
    ("chw,whr->chr", ((3, 4, 5), (5, 4, 2))), ("abcd,adce->abce", ((2, 3, 4, 5), (2, 5, 4, 6))),
])
def test_einsum_matches_torch_with_batch_broadcasting(run_mil, equation, shapes):
    """The op's equations (and equivalent spellings); size-1 B / H axes broadcast against the other operand."""
    a, b = rand(0, *shapes[0]), rand(1, *shapes[1])
    got = run_mil(lambda x, y: mb.einsum(values=(x, y), equation=equation), {"x": a, "y": b})
    terms = equation.split("->")[0].split(",")
    sizes = {}
    for term, shape in zip(terms, shapes, strict=True):
        for letter, n in zip(term, shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), n)
    wide = [t(v).expand(*[sizes[c] for c in term]) for term, v in zip(terms, (a, b), strict=True)]
    np.testing.assert_allclose(got, torch.einsum(equation, *wide).numpy(), **FP32_TOL)


@pytest.mark.parametrize("name, ref", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                       ("real_div", np.divide)])
@op_settings
@given(seed=SEEDS, broadcast=st.booleans())
def test_binary(run_mil, name, ref, seed, broadcast):
    a, b = rand(seed, 2, 3, 4), rand(seed + 1, *((1, 4) if broadcast else (2, 3, 4)))
    got = run_mil(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": a, "y": b})
    np.testing.assert_allclose(got, ref(a, b), rtol=1e-6)


@pytest.mark.parametrize("name, ref", [
    ("relu", torch.relu), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
])
@op_settings
@given(seed=SEEDS)
def test_activation(run_mil, name, ref, seed):
    x = rand(seed, 3, 17, scale=6.0)
    np.testing.assert_allclose(run_mil(lambda x: getattr(mb, name)(x=x), {"x": x}), ref(t(x)).numpy(),
                               **FP32_TOL)


@pytest.mark.parametrize("mode, approximate", [("EXACT", "none"), ("TANH_APPROXIMATION", "tanh")])
@op_settings
@given(seed=SEEDS)
def test_gelu(run_mil, mode, approximate, seed):
    x = rand(seed, 4, 9, scale=3.0)
    got = run_mil(lambda x: mb.gelu(x=x, mode=mode), {"x": x})
    np.testing.assert_allclose(got, F.gelu(t(x), approximate=approximate).numpy(), **FP32_TOL)


def test_gelu_sigmoid_approximation(run_mil):
    x = rand(0, 4, 9, scale=3.0)
    got = run_mil(lambda x: mb.gelu(x=x, mode="SIGMOID_APPROXIMATION"), {"x": x})
    np.testing.assert_allclose(got, (t(x) * torch.sigmoid(1.702 * t(x))).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([-1, 0, 1]))
def test_softmax(run_mil, seed, axis):
    x = rand(seed, 3, 7, scale=4.0)
    np.testing.assert_allclose(run_mil(lambda x: mb.softmax(x=x, axis=axis), {"x": x}),
                               torch.softmax(t(x), dim=axis).numpy(), **FP32_TOL)


@op_settings
@given(seed=SEEDS, affine=st.booleans())
def test_layer_norm(run_mil, seed, affine):
    x, g, b = rand(seed, 2, 5, 8, scale=3.0), rand(seed + 1, 8), rand(seed + 2, 8)
    got = run_mil(lambda x: mb.layer_norm(x=x, axes=[-1], gamma=g if affine else None,
                                          beta=b if affine else None, epsilon=1e-5), {"x": x})
    ref = F.layer_norm(t(x), (8,), t(g) if affine else None, t(b) if affine else None, eps=1e-5)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-5)


@op_settings
@given(seed=SEEDS, axes=st.sampled_from([[0, 2], [0], [1], [-3, -1]]))
def test_layer_norm_gamma_lies_along_non_trailing_axes(run_mil, seed, axes):
    """gamma has shape x.shape[axes]; torch normalizes trailing axes, so move them there."""
    x = rand(seed, 3, 3, 4, scale=3.0)
    axes = sorted(a % 3 for a in axes)
    shape = tuple(x.shape[a] for a in axes)
    g, b = rand(seed + 1, *shape), rand(seed + 2, *shape)
    got = run_mil(lambda x: mb.layer_norm(x=x, axes=axes, gamma=g, beta=b, epsilon=1e-5), {"x": x})
    rest = [a for a in range(3) if a not in axes]
    moved = t(x).permute(*rest, *axes)
    ref = F.layer_norm(moved, shape, t(g), t(b), eps=1e-5).permute(*np.argsort(rest + axes).tolist())
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, ref", [("reduce_mean", np.mean), ("reduce_sum", np.sum)])
@op_settings
@given(seed=SEEDS, axes=st.sampled_from([[1], [2, 3], [-1], [0, 1, 2, 3]]), keep=st.booleans())
def test_reductions(run_mil, name, ref, seed, axes, keep):
    x = rand(seed, 2, 3, 4, 5)
    got = run_mil(lambda x: getattr(mb, name)(x=x, axes=axes, keep_dims=keep), {"x": x})
    np.testing.assert_allclose(got, ref(x, axis=tuple(axes), keepdims=keep), rtol=1e-5, atol=1e-5)


@op_settings
@given(seed=SEEDS, lo=st.floats(-2, 0), hi=st.floats(0.1, 2))
def test_clip(run_mil, seed, lo, hi):
    x = rand(seed, 3, 6, scale=3.0)
    got = run_mil(lambda x: mb.clip(x=x, alpha=np.float32(lo), beta=np.float32(hi)), {"x": x})
    np.testing.assert_allclose(got, np.clip(x, np.float32(lo), np.float32(hi)))


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), k=st.integers(1, 3), stride=st.integers(1, 3),
       pad=st.integers(0, 1), exclude=st.booleans())
def test_avg_pool(run_mil, seed, nd, k, stride, pad, exclude):
    pad = min(pad, k // 2)
    x = rand(seed, 2, 3, *([9] * nd))
    got = run_mil(lambda x: mb.avg_pool(x=x, kernel_sizes=[k] * nd, strides=[stride] * nd, pad_type="custom",
                                        pad=[pad] * (2 * nd), exclude_padding_from_average=exclude), {"x": x})
    pool = F.avg_pool1d if nd == 1 else F.avg_pool2d
    ref = pool(t(x), k, stride, pad, count_include_pad=not exclude).numpy()
    np.testing.assert_allclose(got, ref, **FP32_TOL)


@op_settings
@given(seed=SEEDS, sh=st.integers(1, 3), sw=st.integers(1, 3))
def test_upsample_nearest_neighbor(run_mil, seed, sh, sw):
    x = rand(seed, 1, 2, 3, 5)
    got = run_mil(lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=sh, scale_factor_width=sw),
                  {"x": x})
    np.testing.assert_array_equal(got, F.interpolate(t(x), scale_factor=(sh, sw), mode="nearest").numpy())


#: (input h, w) -> (output h, w): downsizing and upsizing by ratios that are not integers.
RESIZE_PAIRS = [((4, 6), (6, 4)), ((8, 9), (12, 6)), ((10, 12), (4, 8)), ((16, 24), (24, 16)),
                ((3, 5), (7, 13)), ((7, 13), (3, 5)), ((5, 11), (17, 2)), ((2, 30), (31, 29))]


def test_upsample_nearest_neighbor_picks_torchs_rows_for_any_output_size():
    """F.interpolate(size=...) through coremltools' torch frontend: it stores a nudged scale."""
    import coremltools as ct

    from harness.mil import Interpreter, get_profile, load_program

    class Resize(torch.nn.Module):
        def forward(self, *xs):
            return tuple(F.interpolate(x, size=out, mode="nearest") for x, (_, out) in zip(xs, RESIZE_PAIRS,
                                                                                           strict=True))

    xs = [torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(k))
          for k, (shape, _) in enumerate(RESIZE_PAIRS)]
    model = ct.convert(torch.jit.trace(Resize().eval(), tuple(xs)), inputs=[ct.TensorType(shape=x.shape) for x in xs],
                       convert_to="mlprogram", minimum_deployment_target=ct.target.iOS15,
                       compute_precision=ct.precision.FLOAT32)
    program = load_program(model.package_path)
    assert "upsample_nearest_neighbor" in program.op_types()
    feeds = {name: x.numpy() for (name, _), x in zip(program.inputs, xs, strict=True)}
    got = Interpreter(program, get_profile("fp32")).run(feeds).outputs
    for out, ref, pair in zip(got.values(), Resize()(*xs), RESIZE_PAIRS, strict=True):
        np.testing.assert_array_equal(out, ref.numpy(), err_msg=str(pair))


def test_cast_rounds_to_fp16_only_when_the_profile_stores_fp16(run_mil):
    x = np.array([[1.0 + 2**-12, 70000.0, 1e-8]], dtype=np.float32)

    def build(x):
        return mb.cast(x=mb.cast(x=x, dtype="fp16"), dtype="fp32")

    np.testing.assert_array_equal(run_mil(build, {"x": x}, profile="fp32"), x)
    stored = run_mil(build, {"x": x}, profile="fp16-storage")
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(stored, x.astype(np.float16).astype(np.float32))
    assert stored[0, 0] == 1.0 and np.isinf(stored[0, 1]) and stored[0, 2] == 0.0


@op_settings
@given(seed=SEEDS)
def test_shape_ops(run_mil, seed):
    x = rand(seed, 2, 1, 3, 4)

    def build(x):
        s = mb.squeeze(x=x, axes=[1])
        e = mb.expand_dims(x=s, axes=[-1])
        tr = mb.transpose(x=e, perm=[3, 2, 1, 0])
        r = mb.reverse(x=tr, axes=[1])
        return r, mb.shape(x=r)

    got, shape = run_mil(build, {"x": x})
    ref = np.flip(np.transpose(np.expand_dims(np.squeeze(x, 1), -1), [3, 2, 1, 0]), 1)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(shape, ref.shape)


@op_settings
@given(seed=SEEDS, axis=st.sampled_from([0, 1, -1]), b=st.integers(0, 2), e=st.integers(3, 4))
def test_indexing_ops(run_mil, seed, axis, b, e):
    x = rand(seed, 3, 4, 5)
    idx = np.array([2, 0, -1], dtype=np.int32)

    def build(x):
        g = mb.gather(x=x, indices=idx, axis=axis)
        c = mb.concat(values=(x, x), axis=axis)
        s = mb.slice_by_index(x=x, begin=[b, 0, 1], end=[e, 0, 5], end_mask=[False, True, False],
                              stride=[1, 2, 2])
        return g, c, s

    g, c, s = run_mil(build, {"x": x})
    np.testing.assert_array_equal(g, np.take(x, [2, 0, x.shape[axis] - 1], axis=axis))
    np.testing.assert_array_equal(c, np.concatenate([x, x], axis=axis))
    np.testing.assert_array_equal(s, x[b:e, ::2, 1:5:2])


@pytest.mark.parametrize("mode", ["update", "add"])
def test_scatter(run_mil, mode):
    data, upd = rand(0, 5, 3), rand(1, 2, 3)
    got = run_mil(lambda x: mb.scatter(data=x, indices=np.array([1, 3], np.int32), updates=upd, axis=0,
                                       mode=mode), {"x": data})
    ref = data.copy()
    ref[[1, 3]] = upd if mode == "update" else ref[[1, 3]] + upd
    np.testing.assert_allclose(got, ref)


def test_fill_and_less(run_mil):
    x = rand(0, 2, 3)

    def build(x):
        return mb.fill(shape=np.array([2, 3], np.int32), value=1.5), mb.less(x=x, y=np.float32(0.0))

    filled, less = run_mil(build, {"x": x})
    np.testing.assert_array_equal(filled, np.full((2, 3), 1.5))
    np.testing.assert_array_equal(less, x < 0)


def test_while_loop_with_outer_values(run_mil):
    x = rand(0, 3)

    def build(x):
        def cond(i, acc):
            return mb.less(x=i, y=np.int32(5))

        def body(i, acc):
            return mb.add(x=i, y=np.int32(1)), mb.add(x=acc, y=x)  # x comes from the outer block

        return mb.while_loop(_cond=cond, _body=body, loop_vars=(np.int32(0), np.zeros(3, np.float32)))[1]

    np.testing.assert_allclose(run_mil(build, {"x": x}), 5 * x, rtol=1e-6)


def test_unsupported_ops_are_all_named_with_count_place_and_reason_before_anything_runs(mil_program):
    from harness.mil import Interpreter, get_profile

    def build(x):
        a = mb.random_uniform(shape=np.array([2, 3], np.int32), seed=1)
        b = mb.random_uniform(shape=np.array([2, 3], np.int32), seed=2)
        c = mb.random_normal(shape=np.array([2, 3], np.int32), seed=3)
        return mb.add(x=mb.add(x=a, y=b), y=mb.add(x=c, y=x))

    program = mil_program(build, {"x": rand(0, 2, 3)})
    with pytest.raises(UnsupportedOp) as info:
        Interpreter(program, get_profile("fp32"))
    err = info.value
    assert set(err.missing) == {"random_uniform", "random_normal"}
    assert err.missing["random_uniform"][0] == 2 and err.missing["random_normal"][0] == 1
    first = next(op for op in program.operations() if op.type == "random_uniform")
    assert err.op_type == "random_uniform" and err.location == first.location == err.missing["random_uniform"][1]
    message = str(err)
    assert "op 'random_uniform' is not supported: draws from the device's random generator" in message
    assert "(x2, first at main/block0/op" in message and "supported ops: abs, acos" in message


def test_every_registered_op_has_a_test():
    """An op is tested where a test builds it (mb.<op>( ...) or names it in a parametrized table."""
    from pathlib import Path

    source = "".join(p.read_text() for p in Path(__file__).parent.glob("test_ops*.py"))
    missing = [name for name in OPS if f"mb.{name}(" not in source and f'"{name}"' not in source]
    assert not missing, f"ops without a test: {missing}"


def _core_ops():
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    return {name: versions for name, versions in SSAOpRegistry.core_ops.items() if not name.startswith("_")}


def test_every_ios15_op_type_is_implemented_or_refused_with_a_reason():
    import coremltools as ct

    from harness.mil.interpreter import BUILTIN_OPS
    from harness.mil.ops import UNSUPPORTED

    ios15 = {name for name, versions in _core_ops().items() if min(versions) <= ct.target.iOS15}
    implemented = ios15 & (set(OPS) | BUILTIN_OPS)
    assert ios15 - implemented == set(UNSUPPORTED)
    assert (len(implemented), len(ios15)) == (146, 151)  # the figures docs/interpreter.md gives


def test_variadic_inputs_are_exactly_the_ops_tuple_inputs():
    from coremltools.converters.mil.mil.input_type import TupleInputType

    from harness.mil.ops import VARIADIC

    declared = {}
    for name, versions in _core_ops().items():
        tuples = {k for cls in versions.values() for k, v in cls.input_spec.input_types.items()
                  if isinstance(v, TupleInputType)}
        if tuples and name in OPS:
            declared[name] = tuples
    assert {name: set(params) for name, params in VARIADIC.items()} == declared


OPSETS = {"iOS15": "CoreML5", "iOS16": "CoreML6", "iOS17": "CoreML7", "iOS18": "CoreML8"}


@pytest.mark.parametrize("target, figures", [("iOS16", (153, 158)), ("iOS17", (156, 161)), ("iOS18", (163, 168))])
def test_every_op_type_of_each_targets_registry_runs_at_that_target(target, figures):
    """coremltools' registry up to the target, against the interpreter's registry for that target's opset."""
    import coremltools as ct

    from harness.mil.interpreter import BUILTIN_OPS
    from harness.mil.ops import UNSUPPORTED, registry

    available = {name for name, versions in _core_ops().items() if min(versions) <= getattr(ct.target, target)}
    if target == "iOS18":  # not in PyMIL's registry: its backend writes coreml_update_state as write_state + read_state
        available.add("write_state")
    implemented = available & (set(registry(OPSETS[target])) | BUILTIN_OPS)
    assert available - implemented == set(UNSUPPORTED)
    assert (len(implemented), len(available)) == figures  # the figures docs/interpreter.md gives
    assert not set(registry(OPSETS[target])) - available, "an op registered before coremltools has it"


@pytest.mark.parametrize("target", sorted(OPSETS))
def test_each_targets_form_takes_every_input_coremltools_declares_for_it(target):
    """An op whose inputs changed at a target (iOS18 constexpr_lut_to_dense's `vector_axis`, iOS17 crop_resize's
    `boxes`) runs there in a form that accepts them: the class in force at the target, against its implementation."""
    import inspect

    import coremltools as ct

    from harness.mil.ops import registry

    ops = registry(OPSETS[target])
    unhandled = {}
    for name, versions in _core_ops().items():
        at = [v for v in versions if v <= getattr(ct.target, target)]
        if not at or name not in ops:
            continue
        declared = {k for k in versions[max(at)].input_spec.input_types if not k.startswith("_")}
        params = inspect.signature(ops[name]).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()) and declared - set(params):
            unhandled[name] = declared - set(params)
    assert not unhandled


def test_an_op_of_a_later_target_is_refused_in_an_earlier_program_with_the_target_named(mil_program):
    import coremltools as ct

    from harness.mil import Interpreter, get_profile

    program = mil_program(lambda x: mb.slice_update(x=x, update=np.ones((1, 2), np.float32), begin=[0, 0],
                                                    end=[1, 2]), {"x": rand(0, 2, 2)}, opset=ct.target.iOS18)
    program.opset = "CoreML7"
    with pytest.raises(UnsupportedOp, match=r"op 'slice_update' arrives at iOS18, and this program targets iOS17 "
                                            r"\(CoreML7\) \(x1, first at main/block0/op"):
        Interpreter(program, get_profile("fp32"))


def test_an_iOS16_palette_and_an_iOS18_palette_each_run_in_their_own_form(run_mil):
    """constexpr_lut_to_dense changed at iOS18: packed uint8 indices and `shape` before, typed indices after."""
    import coremltools as ct
    from coremltools.converters.mil.mil import types
    from coremltools.optimize import _utils as optimize_utils

    indices = np.array([3, 0, 1, 2, 2, 1], np.uint8)
    lut = np.array([-1, 0.5, 2, 4], np.float32)
    old = run_mil(lambda x: mb.add(x=x, y=mb.constexpr_lut_to_dense(
        lut=lut, indices=optimize_utils.pack_elements_into_bits(indices, 2), shape=np.array([2, 3], np.uint32))),
        {"x": np.zeros((2, 3), np.float32)}, opset=ct.target.iOS16)
    new = run_mil(lambda x: mb.add(x=x, y=mb.constexpr_lut_to_dense(
        indices=indices.reshape(2, 3).astype(types.np_uint2_dtype), lut=lut.reshape(1, 1, 4, 1))),
        {"x": np.zeros((2, 3), np.float32)}, opset=ct.target.iOS18)
    np.testing.assert_array_equal(old, lut[indices].reshape(2, 3))
    np.testing.assert_array_equal(new, old)


def test_an_unknown_opset_is_refused_in_one_line(mil_program):
    from harness.mil import Interpreter, get_profile
    from harness.mil.program import ProgramError

    program = mil_program(lambda x: mb.relu(x=x), {"x": rand(0, 2)})
    program.opset = "Custom1"
    with pytest.raises(ProgramError, match="unknown opset 'Custom1'; known: CoreML5, CoreML6"):
        Interpreter(program, get_profile("fp32"))

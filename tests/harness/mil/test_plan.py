"""The planned interpreter computes what the straightforward path computes (fp32 profile): bit for bit where
both sum in one order, else within what reordering a float32 sum can move it.

The reference is the im2col the interpreter used before it planned: channels-first windows,
moved and reshaped, one matmul per group. Chains of convs check the channels-last hand-over.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand


def reference_conv(x, weight, bias, strides, pads, dilations, groups):
    nd = x.ndim - 2
    kernel = tuple(weight.shape[2:])
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    w = np.lib.stride_tricks.sliding_window_view(xp, extent, axis=tuple(range(2, 2 + nd)))
    patches = w[(slice(None), slice(None), *(slice(None, None, s) for s in strides),
                 *(slice(None, None, d) for d in dilations))]
    n, c = x.shape[:2]
    cout = weight.shape[0]
    outs = []
    for g in range(groups):
        part = patches[:, g * (c // groups) : (g + 1) * (c // groups)]
        cols = np.moveaxis(part, 1, 1 + nd).reshape(n, -1, (c // groups) * int(np.prod(kernel)))
        wg = weight[g * (cout // groups) : (g + 1) * (cout // groups)].reshape(cout // groups, -1)
        outs.append(np.matmul(cols.astype(np.float32), wg.T.astype(np.float32)))
    y = np.concatenate(outs, axis=-1).astype(np.float32)
    y = np.moveaxis(y.reshape(n, *patches.shape[2 : 2 + nd], cout), -1, 1)
    return y + bias.reshape([-1] + [1] * nd)


@op_settings
@given(seed=SEEDS, nd=st.sampled_from([1, 2]), batch=st.sampled_from([1, 3, 64]), k=st.integers(1, 4),
       stride=st.integers(1, 2), dilation=st.integers(1, 2), pad=st.integers(0, 2), groups=st.sampled_from([1, 2]),
       cout=st.sampled_from([1, 4]), size=st.integers(5, 12))
def test_a_chain_of_planned_convs_is_plain_im2col_up_to_summation_order(run_mil, seed, nd, batch, k, stride,
                                                                          dilation, pad, groups, cout, size):
    """Bit-identical where both sum in one order; where BLAS picks another kernel for a shape (a
    one-column product, cout=1, sums in another order: 8 ULPs apart on a cancelling sum) or a one-tap conv
    reads its rows channels-last, they differ by what reordering a K-term float32 sum can."""
    c = 4
    x = rand(seed, batch, c, *([size] * nd))
    w1, b1 = rand(seed + 1, 4, c // groups, *([k] * nd)), rand(seed + 2, 4)
    w2, b2 = rand(seed + 3, cout, 4, *([k] * nd)), rand(seed + 4, cout)
    attrs = dict(strides=[stride] * nd, dilations=[dilation] * nd, pad_type="custom", pad=[pad] * (2 * nd))

    def build(x):
        h = mb.relu(x=mb.conv(x=x, weight=w1, bias=b1, groups=groups, **attrs))
        return mb.conv(x=h, weight=w2, bias=b2, **attrs)

    pads = [(pad, pad)] * nd
    spatial = dict(strides=[stride] * nd, pads=pads, dilations=[dilation] * nd)
    if (size + 2 * pad - (k - 1) * dilation - 1) // stride + 1 <= (k - 1) * dilation - 2 * pad:
        return  # the second conv would have no output
    got = run_mil(build, {"x": x})
    _assert_chain_within_reordering(got, x, (w1, b1, groups), (w2, b2), spatial)


def _assert_chain_within_reordering(got, x, first, second, spatial):
    """`got` is relu(conv1(x)) through conv2 as `reference_conv` computes it, up to what reordering each K-term
    float32 sum can move it (K * 2^-24 * sum|terms| on either side), carried through the chain."""
    (w1, b1, groups), (w2, b2) = first, second
    h = np.maximum(reference_conv(x, w1, b1, groups=groups, **spatial), np.float32(0))
    want = reference_conv(h, w2, b2, groups=1, **spatial)
    assert got.dtype == want.dtype == np.float32
    u = 2.0**-24
    k1, k2 = w1[0].size + 1, w2[0].size + 1  # terms per sum, the bias included
    a = lambda v: np.abs(v).astype(np.float64)  # noqa: E731
    err1 = reference_conv(a(x), a(w1), a(b1), groups=groups, **spatial) * k1 * u  # |h| may be off by this
    bound = (reference_conv(a(h), a(w2), a(b2), groups=1, **spatial) * k2 * u
             + reference_conv(err1, a(w2), np.zeros_like(b2, np.float64), groups=1, **spatial))
    assert np.all(np.abs(got.astype(np.float64) - want) <= 2 * bound)


@op_settings
@given(seed=SEEDS, batch=st.sampled_from([1, 3, 40]), c=st.sampled_from([32, 48]), k=st.integers(2, 5),
       stride=st.integers(1, 3), dilation=st.integers(1, 3), pads=st.tuples(st.integers(0, 9), st.integers(0, 9)),
       cout=st.sampled_from([1, 8]), size=st.integers(2, 30))
def test_a_1d_conv_of_many_channels_is_summed_tap_by_tap_within_reordering(run_mil, seed, batch, c, k, stride,
                                                                          dilation, pads, cout, size):
    """From `TAP_SUMS_FROM` channels a 1-D conv adds each tap's products (a view of its input, nothing gathered):
    from channels-first memory (the program's input) and channels-last (a conv's output), with taps and whole
    outputs that read padding alone, strides that skip input, and one output channel (gemv)."""
    from harness.mil.ops import _conv

    assert c >= _conv.TAP_SUMS_FROM
    x = rand(seed, batch, c, size)
    w1, b1 = rand(seed + 1, c, c, k), rand(seed + 2, c)
    w2, b2 = rand(seed + 3, cout, c, k), rand(seed + 4, cout)
    attrs = dict(strides=[stride], dilations=[dilation], pad_type="custom", pad=list(pads))
    extent = (k - 1) * dilation + 1
    hidden = (size + sum(pads) - extent) // stride + 1
    if hidden < 1 or (hidden + sum(pads) - extent) // stride + 1 < 1:
        return  # a conv would have no output

    def build(x):
        return mb.conv(x=mb.relu(x=mb.conv(x=x, weight=w1, bias=b1, **attrs)), weight=w2, bias=b2, **attrs)

    summed = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_conv.Convolution, "_tap_sums", lambda self, *a, real=_conv.Convolution._tap_sums:
                      summed.append(1) or real(self, *a))
        got = run_mil(build, {"x": x})
    _assert_chain_within_reordering(got, x, (w1, b1, 1), (w2, b2),
                                    dict(strides=[stride], pads=[pads], dilations=[dilation]))
    assert summed


def _steps(program, profile="fp32"):
    from harness.mil import Interpreter, get_profile

    interpreter = Interpreter(program, get_profile(profile))
    return interpreter, {s.op.type: s for s in interpreter._main.steps}


def test_relu_writes_over_a_conv_output_that_only_it_reads_and_gives_the_same_values(mil_program):
    x, w, b = rand(0, 3, 4, 20), rand(1, 8, 4, 3), rand(2, 8)

    def build(x):
        return mb.sigmoid(x=mb.relu(x=mb.conv(x=x, weight=w, bias=b, pad_type="same")))

    program = mil_program(build, {"x": x})
    (name, _), = program.inputs
    for profile in ("fp32", "fp16-storage"):
        interpreter, steps = _steps(program, profile)
        assert steps["relu"].in_place is not None
        plain = interpreter.run({name: x}).outputs
        traced = interpreter.run({name: x}, capture=True)  # a trace keeps the conv's output: no writing over it
        conv_out = next(v for k, v in traced.trace.items() if dict(traced.order)[k] == "conv")
        assert (conv_out < 0).any()
        for key, value in plain.items():
            assert value.dtype == traced.outputs[key].dtype
            assert np.array_equal(np.ascontiguousarray(value).view(np.uint8),
                                  np.ascontiguousarray(traced.outputs[key]).view(np.uint8))


@pytest.mark.parametrize(("shape", "kernel", "cout"), [
    ((300, 16, 40), 5, 16),  # several chunks, on two threads: relu applied chunk by chunk
    ((300, 16, 40, 1), (5, 1), 16),  # a size-1 axis: the bias is added to the whole, and relu after it
    ((40, 16, 40), 1, 8),  # a one-tap kernel: its own path
    ((1, 16, 40), 5, 1),  # one sample, one output channel
])
def test_relu_done_by_the_conv_that_makes_its_input_gives_its_values_under_every_profile(mil_program, shape, kernel,
                                                                                        cout):
    from harness.mil.interpreter import _passed_on

    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    x, w, b = rand(10, *shape), rand(11, cout, shape[1], *kernel), rand(12, cout)

    def build(x):
        return mb.sigmoid(x=mb.relu(x=mb.conv(x=x, weight=w, bias=b, pad_type="same")))

    program = mil_program(build, {"x": x})
    (name, _), = program.inputs
    for profile in ("fp32", "fp16-storage", "fp16"):
        interpreter, steps = _steps(program, profile)
        assert steps["relu"].in_place is _passed_on and steps["conv"].in_place is not None
        fused = interpreter.run({name: x}).outputs
        traced = interpreter.run({name: x}, capture=True)  # no fusion where a trace keeps the conv's output
        assert (next(v for k, v in traced.trace.items() if dict(traced.order)[k] == "conv") < 0).any()
        for key, value in fused.items():
            assert value.dtype == traced.outputs[key].dtype and value.shape == traced.outputs[key].shape
            assert np.array_equal(np.ascontiguousarray(value).view(np.uint8),
                                  np.ascontiguousarray(traced.outputs[key]).view(np.uint8)), profile


def test_a_conv_output_read_twice_is_not_written_over(mil_program, run_mil):
    x, w, b = rand(3, 2, 4, 20), rand(4, 8, 4, 3), rand(5, 8)

    def both(x):
        c = mb.conv(x=x, weight=w, bias=b, pad_type="same")
        return mb.relu(x=c), c  # the conv's output is also a program output

    def added(x):
        c = mb.conv(x=x, weight=w, bias=b, pad_type="same")
        return mb.add(x=mb.relu(x=c), y=c)  # and here another op reads it after relu

    for build in (both, added):
        _, steps = _steps(mil_program(build, {"x": x}))
        assert steps["relu"].in_place is None and steps["conv"].in_place is None
    relu, conv = run_mil(both, {"x": x})
    assert (conv < 0).any() and np.array_equal(relu, np.maximum(conv, np.float32(0)))
    got = run_mil(added, {"x": x})
    assert np.array_equal(got, np.maximum(conv, np.float32(0)) + conv)


def test_a_large_conv_on_two_threads_gives_the_one_thread_result_bit_for_bit(mil_program, monkeypatch):
    """Each sample's product is its own BLAS call on either thread: the halves change the time, not the bits,
    under every profile (fp16 rounding of each chunk included), padded or not, bias fused or added after."""
    from harness.mil import Interpreter, get_profile
    from harness.mil.ops import _conv

    x = rand(6, 300, 32, 50)  # 12 chunks for the first conv, summed tap by tap under float32 sums
    w1, b1, w2, w3 = rand(7, 32, 32, 5), rand(8, 32), rand(9, 1, 32, 3), rand(10, 2, 32, 1)

    def build(x):
        h = mb.relu(x=mb.conv(x=x, weight=w1, bias=b1, pad_type="same"))
        return (mb.conv(x=h, weight=w2, pad_type="valid"),  # one output channel: the bias-free, unfused path
                mb.conv(x=h, weight=w3))  # one tap: the pointwise products, 1.9 MB of input in halves

    program = mil_program(build, {"x": x})
    (name, _), = program.inputs
    splits = []
    monkeypatch.setattr(_conv, "_in_two", lambda a, b, real=_conv._in_two: splits.append(1) or real(a, b))
    for profile in ("fp32", "fp16-storage", "fp16"):
        runs = {}
        for threads in (1, 2):
            monkeypatch.setattr(_conv, "THREADS", threads)
            runs[threads] = Interpreter(program, get_profile(profile)).run({name: x}).outputs
        for key, one in runs[1].items():
            two = runs[2][key]
            assert one.dtype == two.dtype and one.shape == two.shape and one.strides == two.strides
            assert np.array_equal(np.ascontiguousarray(one).view(np.uint8), np.ascontiguousarray(two).view(np.uint8))
    assert len(splits) == 3 * 3  # each conv in halves under each profile (float32 ops: float32 sums)


_FORKED = """
import os, sys
import numpy as np
from harness.mil.ops import _conv
_conv.THREADS = 2
x = np.random.default_rng(0).normal(size=(64, 16, 400)).astype(np.float32)
conv = _conv.Convolution(type("Ctx", (), {"accumulate_fp16": False, "matmul": lambda self, a, b, _: a @ b})(),
                         np.ones((8, 16, 3), np.float32), [1], [1], 1)
before = conv(x, [(1, 1)])  # starts the helper thread in this process
pid = os.fork()
if pid == 0:  # the child has no helper thread: it must start its own, not wait on the parent's
    os._exit(0 if np.array_equal(conv(x, [(1, 1)]), before) else 3)
print(os.waitpid(pid, 0)[1])
"""


def test_a_forked_process_gets_a_helper_thread_of_its_own():
    """The second thread is kept between calls; a child forked after it ran (multiprocessing's fork start method,
    Dask's nanny) would wait forever on a thread it does not have."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _FORKED], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split()[-1] == "0", proc.stdout + proc.stderr[-2000:]


def test_when_both_halves_fail_the_callers_error_is_raised():
    from harness.mil.ops._conv import _in_two

    def fails(message):
        def run():
            raise ValueError(message)
        return run

    try:
        _in_two(fails("first half"), fails("second half"))
    except ValueError as err:
        assert str(err) == "first half"
    else:
        raise AssertionError("no error")


def test_an_error_on_the_second_thread_is_raised_in_the_callers():
    from harness.mil.ops._conv import _in_two

    def broken():
        raise ValueError("second half")

    ran = []
    try:
        _in_two(lambda: ran.append("first"), broken)
    except ValueError as err:
        assert str(err) == "second half" and ran == ["first"]
    else:
        raise AssertionError("the second thread's error was lost")


_FAULTS = """
import resource, sys
import numpy as np
from harness.mil import Interpreter, get_profile, load_program
from harness.mil.interpreter import keep_freed_memory
program = load_program(sys.argv[1])
(name, _), = program.inputs
x = np.random.default_rng(0).normal(size=(256, 32, 100)).astype(np.float32)
interpreter = Interpreter(program, get_profile("fp32"))
for _ in range(3):
    interpreter.run({name: x})
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    interpreter.run({name: x})
print(keep_freed_memory(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def test_runs_reuse_the_memory_the_last_run_freed(mil_program):
    """A run's intermediates are MBs at batch 256; with glibc's defaults a fresh process faulted in new pages
    for them every run (about 5,600 here), a third of its time. Counted, not timed, in a
    fresh process: what a process did before (a conversion's big frees) moves glibc's own thresholds."""
    import subprocess
    import sys

    weights = [(rand(11 + k, 32, 32, 5), rand(21 + k, 32)) for k in range(4)]

    def build(x):  # four convs of 32 channels with relus and a one-channel head, as a small 1-D net has
        for w, b in weights:
            x = mb.relu(x=mb.conv(x=x, weight=w, bias=b, pad_type="same"))
        return mb.sigmoid(x=mb.conv(x=x, weight=rand(30, 1, 32, 1), pad_type="valid"))

    program = mil_program(build, {"x": rand(10, 256, 32, 100)})
    proc = subprocess.run([sys.executable, "-c", _FAULTS, str(program.path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kept, per_run = proc.stdout.split()
    if kept != "True":
        pytest.skip("not glibc: its allocator keeps its own defaults")
    assert float(per_run) < 200, f"{per_run} page faults a run: freed intermediates are not reused"


def _float32_ctx():
    """The least an op context gives a `Convolution`: float32 sums, plain matmul."""
    return type("Ctx", (), {"accumulate_fp16": False, "matmul": lambda self, a, b, _: np.matmul(a, b)})()


@pytest.mark.parametrize(("channels", "kernel", "groups"),
                         [(4, 3, 1), (4, 3, 2), (32, 3, 1), (32, 1, 1), (4, (3, 2), 1)])
def test_an_empty_batch_gives_an_empty_result_of_the_outputs_shape(channels, kernel, groups):
    """[0, C, *D] in, [0, C_out, *out] out, on every path (gathered windows, tap sums, one-tap products)."""
    from harness.mil.ops import _conv

    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    ctx = _float32_ctx()
    conv = _conv.Convolution(ctx, rand(0, 6, channels // groups, *kernel), [1] * len(kernel), [1] * len(kernel), groups)
    y = conv(np.zeros((0, channels, *[9] * len(kernel)), np.float32), [(1, 1)] * len(kernel), bias=rand(1, 6))
    assert y.shape == (0, 6, *[9 + 2 - k + 1 for k in kernel]) and y.dtype == np.float32


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_wide_1d_conv_with_a_non_finite_weight_multiplies_the_padding_as_im2col_does(run_mil, bad):
    """0 * inf is NaN: a conv whose weights are not all finite keeps the windows (the padding's zeros multiplied),
    so an edge that reads padding through that weight is NaN as in the plain im2col, at 32 channels as at 31."""
    x = rand(0, 2, 32, 6)
    w = rand(1, 4, 32, 3)
    w[0, 5, 0] = bad
    got = run_mil(lambda x: mb.conv(x=x, weight=w, pad_type="custom", pad=[1, 1]), {"x": x})
    want = reference_conv(x, w, np.zeros(4, np.float32), strides=[1], pads=[(1, 1)], dilations=[1], groups=1)
    assert np.isnan(got[:, 0, 0]).all()
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))


@pytest.mark.parametrize("cout", [1, 8])
def test_a_wide_1d_conv_gives_the_same_bits_whatever_its_inputs_memory(cout):
    """Reversed and broadcast views (numpy multiplies some such views in its own loop, not BLAS's) and
    channels-last memory give the bits of the same values in fresh C order, on the tap path and the one-tap path."""
    from harness.mil.ops import _conv

    ctx = _float32_ctx()
    x = rand(2, 3, 32, 12)
    for kernel in (3, 1):
        conv = _conv.Convolution(ctx, rand(3, cout, 32, kernel), [1], [1], 1)
        assert (conv.tap_matrices is not None) == (kernel > 1)
        channels_last = x.transpose(0, 2, 1).copy().transpose(0, 2, 1)
        for view in (x[:, :, ::-1], channels_last[:, :, ::-1], np.broadcast_to(channels_last[:, :, :1], x.shape),
                     channels_last):
            got, fresh = conv(view, [(1, 1)]), conv(np.ascontiguousarray(view), [(1, 1)])
            assert np.array_equal(np.ascontiguousarray(got).view(np.uint32),
                                  np.ascontiguousarray(fresh).view(np.uint32))

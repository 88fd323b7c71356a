"""rnn, lstm and gru against torch.nn (and the spec's float64 formulas for what torch lacks: peepholes, clip,
the iOS15 GRU's reset-before-product)."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t

RNN_TOL = dict(rtol=1e-4, atol=1e-5)
SIZES = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))  # s, b, I, H


def _ifzo_to_ifoz(w):
    i, f, z, o = np.split(w, 4)
    return np.ascontiguousarray(np.concatenate([i, f, o, z]))


def _state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@op_settings
@given(seed=SEEDS, sizes=SIZES, reverse=st.booleans(), seq=st.booleans(), relu=st.booleans())
def test_rnn_matches_torch(run_mil, seed, sizes, reverse, seq, relu):
    s, b, i, h = sizes
    torch.manual_seed(seed % 2**31)
    rnn = torch.nn.RNN(i, h, nonlinearity="relu" if relu else "tanh")
    w = _state(rnn)
    x, h0 = rand(seed, s, b, i), rand(seed + 1, b, h)
    out, hn = run_mil(lambda x, h0: mb.rnn(x=x, initial_h=h0, weight_ih=w["weight_ih_l0"], weight_hh=w["weight_hh_l0"],
                                           bias=w["bias_ih_l0"] + w["bias_hh_l0"],
                                           direction="reverse" if reverse else "forward", output_sequence=seq,
                                           activation="relu" if relu else "tanh"), {"x": x, "h0": h0})
    ref, ref_h = rnn(torch.flip(t(x), [0]) if reverse else t(x), t(h0)[None])
    np.testing.assert_allclose(out, (ref if seq else ref[-1:]).detach().numpy(), **RNN_TOL)
    np.testing.assert_allclose(hn, ref_h[0].detach().numpy(), **RNN_TOL)


@op_settings
@given(seed=SEEDS, sizes=SIZES, direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       seq=st.booleans())
def test_lstm_matches_torch(run_mil, seed, sizes, direction, seq):
    s, b, i, h = sizes
    torch.manual_seed(seed % 2**31)
    both = direction == "bidirectional"
    lstm = torch.nn.LSTM(i, h, bidirectional=both)
    w = _state(lstm)
    x = rand(seed, s, b, i)
    h0, c0 = rand(seed + 1, 2 if both else 1, b, h), rand(seed + 2, 2 if both else 1, b, h)

    def weights(suffix):
        return dict(weight_ih=_ifzo_to_ifoz(w["weight_ih_l0" + suffix]),
                    weight_hh=_ifzo_to_ifoz(w["weight_hh_l0" + suffix]),
                    bias=_ifzo_to_ifoz(w["bias_ih_l0" + suffix] + w["bias_hh_l0" + suffix]))

    kwargs = weights("")
    if both:
        kwargs.update({k + "_back": v for k, v in weights("_reverse").items()})

    def flat(a):  # torch's [directions, b, h] -> MIL's [b, directions * h]
        return np.concatenate(list(a), axis=-1)

    out, hn, cn = run_mil(lambda x, h0, c0: mb.lstm(x=x, initial_h=h0, initial_c=c0, direction=direction,
                                                    output_sequence=seq, **kwargs),
                          {"x": x, "h0": flat(h0), "c0": flat(c0)})
    ref, (ref_h, ref_c) = lstm(torch.flip(t(x), [0]) if direction == "reverse" else t(x), (t(h0), t(c0)))
    ref = ref.detach().numpy()
    if not seq:
        ref = np.concatenate([ref[-1:, :, :h], ref[:1, :, h:]], axis=-1) if both else ref[-1:]
    np.testing.assert_allclose(out, ref, **RNN_TOL)
    np.testing.assert_allclose(hn, flat(ref_h.detach().numpy()), **RNN_TOL)
    np.testing.assert_allclose(cn, flat(ref_c.detach().numpy()), **RNN_TOL)


ACTS = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0),
        "linear": lambda v: v, "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0, 1), "scaled_tanh": np.tanh}


@op_settings
@given(seed=SEEDS, sizes=SIZES, clip=st.sampled_from([None, 0.5]), acts=st.tuples(*[st.sampled_from(sorted(ACTS))] * 3))
def test_lstm_peepholes_clip_and_activations_follow_the_spec(run_mil, seed, sizes, clip, acts):
    s, b, i, h = sizes
    x = rand(seed, s, b, i)
    wx, wh = rand(seed + 1, 4 * h, i), rand(seed + 2, 4 * h, h)
    bias, peep = rand(seed + 3, 4 * h), rand(seed + 4, 3 * h)
    ra, ca, a = acts
    extra = {} if clip is None else {"clip": np.float32(clip)}
    out = run_mil(lambda x: mb.lstm(x=x, initial_h=np.zeros((b, h), np.float32), initial_c=np.zeros((b, h), np.float32),
                                    weight_ih=wx, weight_hh=wh, bias=bias, peephole=peep, output_sequence=True,
                                    recurrent_activation=ra, cell_activation=ca, activation=a, **extra), {"x": x})[0]
    w_i, w_f, w_o, w_z = np.split(wx.astype(np.float64), 4)
    r_i, r_f, r_o, r_z = np.split(wh.astype(np.float64), 4)
    b_i, b_f, b_o, b_z = np.split(bias.astype(np.float64), 4)
    p_i, p_f, p_o = np.split(peep.astype(np.float64), 3)
    hs, cs, ref = np.zeros((b, h)), np.zeros((b, h)), []
    for step in x.astype(np.float64):
        gi = ACTS[ra](step @ w_i.T + hs @ r_i.T + b_i + p_i * cs)
        gf = ACTS[ra](step @ w_f.T + hs @ r_f.T + b_f + p_f * cs)
        gz = ACTS[ca](step @ w_z.T + hs @ r_z.T + b_z)
        cs = gf * cs + gi * gz
        cs = cs if clip is None else np.clip(cs, -clip, clip)
        go = ACTS[ra](step @ w_o.T + hs @ r_o.T + b_o + p_o * cs)
        hs = go * ACTS[a](cs)
        ref.append(hs)
    assume(np.abs(ref).max() < 1e4)  # linear / relu activations without a clip can grow past float32's range
    np.testing.assert_allclose(out, np.stack(ref), **RNN_TOL)


@op_settings
@given(seed=SEEDS, sizes=SIZES, reverse=st.booleans(), seq=st.booleans())
def test_gru_ios15_resets_before_the_recurrent_product(run_mil, seed, sizes, reverse, seq):
    """o = tanh(W_o x + R_o (r * h) + b_o): coremltools' own test's formula (Keras's reset_after=False)."""
    s, b, i, h = sizes
    x, h0 = rand(seed, s, b, i), rand(seed + 1, b, h)
    wx, wh, bias = rand(seed + 2, 3 * h, i), rand(seed + 3, 3 * h, h), rand(seed + 4, 3 * h)
    out, hn = run_mil(lambda x, h0: mb.gru(x=x, initial_h=h0, weight_ih=wx, weight_hh=wh, bias=bias,
                                           direction="reverse" if reverse else "forward", output_sequence=seq),
                      {"x": x, "h0": h0})
    w_r, w_o, w_z = np.split(wx.astype(np.float64), 3)
    r_r, r_o, r_z = np.split(wh.astype(np.float64), 3)
    b_r, b_o, b_z = np.split(bias.astype(np.float64), 3)
    hs, ref = h0.astype(np.float64), []
    for step in (x[::-1] if reverse else x).astype(np.float64):
        z = ACTS["sigmoid"](step @ w_z.T + hs @ r_z.T + b_z)
        r = ACTS["sigmoid"](step @ w_r.T + hs @ r_r.T + b_r)
        o = np.tanh(step @ w_o.T + (hs * r) @ r_o.T + b_o)
        hs = (1 - z) * o + z * hs
        ref.append(hs)
    np.testing.assert_allclose(out, np.stack(ref) if seq else ref[-1][None], **RNN_TOL)
    np.testing.assert_allclose(hn, ref[-1], **RNN_TOL)


@op_settings
@given(seed=SEEDS, sizes=SIZES)
def test_gru_ios18_reset_after_is_torchs_gru(run_mil, seed, sizes):
    s, b, i, h = sizes
    torch.manual_seed(seed % 2**31)
    gru = torch.nn.GRU(i, h)
    w = _state(gru)

    def rzn_to_ron(a):
        r, z, n = np.split(a, 3)
        return np.ascontiguousarray(np.concatenate([r, n, z]))

    x, h0 = rand(seed, s, b, i), rand(seed + 1, b, h)
    out, hn = run_mil(lambda x, h0: mb.gru(x=x, initial_h=h0, weight_ih=rzn_to_ron(w["weight_ih_l0"]),
                                           weight_hh=rzn_to_ron(w["weight_hh_l0"]),
                                           input_bias=rzn_to_ron(w["bias_ih_l0"]), bias=rzn_to_ron(w["bias_hh_l0"]),
                                           reset_after=True, output_sequence=True), {"x": x, "h0": h0},
                      opset=ct.target.iOS18)
    ref, ref_h = gru(t(x), t(h0)[None])
    np.testing.assert_allclose(out, ref.detach().numpy(), **RNN_TOL)
    np.testing.assert_allclose(hn, ref_h[0].detach().numpy(), **RNN_TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_torch_recurrent_models_convert_and_match(kind):
    """nn.LSTM (bidirectional, 2 layers) lowers to MIL lstm; nn.GRU to a while_loop of plain ops."""
    from harness.mil import Interpreter, get_profile, load_program

    torch.manual_seed(0)
    layer = (torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True) if kind == "lstm"
             else torch.nn.GRU(3, 4, num_layers=1))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(x)[0]

    x = torch.randn(6, 2, 3)
    model = ct.convert(torch.jit.trace(Model().eval(), x), inputs=[ct.TensorType(shape=x.shape)],
                       convert_to="mlprogram", minimum_deployment_target=ct.target.iOS15,
                       compute_precision=ct.precision.FLOAT32)
    program = load_program(model.package_path)
    assert kind in program.op_types() or "while_loop" in program.op_types()
    got = Interpreter(program, get_profile("fp32")).run({program.inputs[0][0]: x.numpy()}).outputs
    np.testing.assert_allclose(next(iter(got.values())), Model()(x).detach().numpy(), **RNN_TOL)


def _packed_lstm_program(lengths, explicit_state=False):
    """nn.LSTM over pack_padded_sequence (coremltools' TestLSTMWithPackedSequence model), converted for real.

    With `explicit_state` the model passes zero (h0, c0) sized by the batch instead of letting torch make them.
    """
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from harness.mil import load_program

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 6)

        def forward(self, x, lengths):
            zeros = torch.zeros(1, x.shape[1], 6)
            out, _ = self.lstm(pack_padded_sequence(x, lengths), (zeros, zeros) if explicit_state else None)
            return pad_packed_sequence(out, padding_value=-1.0)[0]

    torch.manual_seed(0)
    net = Encoder().eval()
    x, lengths = torch.randn(int(lengths[0]), len(lengths), 4), torch.tensor(lengths, dtype=torch.int32)
    model = ct.convert(torch.jit.trace(net, (x, lengths)), convert_to="mlprogram",
                       inputs=[ct.TensorType(shape=x.shape), ct.TensorType(shape=lengths.shape, dtype=np.int32)],
                       minimum_deployment_target=ct.target.iOS15, compute_precision=ct.precision.FLOAT32,
                       skip_model_load=True)
    program = load_program(model.package_path)
    with torch.no_grad():
        ref = net(x, lengths).numpy()
    return program, {name: v.numpy() for (name, _), v in zip(program.inputs, (x, lengths), strict=True)}, ref


def test_packed_sequence_lstm_matches_torch_when_the_longest_length_equals_the_batch():
    """coremltools sizes the zero initial_h by seq_lengths[0] (not the batch): harmless when the two agree."""
    from harness.mil import Interpreter, get_profile

    program, feeds, ref = _packed_lstm_program([3, 2, 1])
    got = Interpreter(program, get_profile("fp32")).run(feeds).outputs
    np.testing.assert_allclose(next(iter(got.values())), ref, **RNN_TOL)


def test_packed_sequence_lstm_with_zero_states_sized_by_the_batch_matches_torch():
    """The workaround: the model passes its own zero (h0, c0), so no state is sized by seq_lengths[0]."""
    from harness.mil import Interpreter, get_profile

    program, feeds, ref = _packed_lstm_program([10, 5, 1], explicit_state=True)
    got = Interpreter(program, get_profile("fp32")).run(feeds).outputs
    np.testing.assert_allclose(next(iter(got.values())), ref, **RNN_TOL)


@pytest.mark.parametrize("lengths", [[10, 5, 1], [7, 7, 2, 1]])
def test_packed_sequence_lstm_with_states_of_the_longest_lengths_rows_matches_torch(lengths):
    """coremltools' program gives lstm a (10, 6) initial_h for a batch of 3 (seq_lengths[0] rows, the spec says
    [batch, H]); cut to the batch's rows, as Apple's test expects of Core ML, the outputs are torch's."""
    from harness.mil import Interpreter, get_profile

    program, feeds, ref = _packed_lstm_program(lengths)
    assert np.ptp(ref) > 0.5
    got = Interpreter(program, get_profile("fp32")).run(feeds).outputs
    np.testing.assert_allclose(next(iter(got.values())), ref, **RNN_TOL)


def test_a_state_of_fewer_rows_than_the_batch_but_more_than_one_is_named():
    from harness.mil.ops._recurrent import batch_state

    x = np.zeros((5, 3, 4), np.float32)
    assert batch_state("initial_h", np.ones((7, 6), np.float32), x).shape == (3, 6)
    assert batch_state("initial_h", np.ones((1, 6), np.float32), x).shape == (1, 6)
    with pytest.raises(ValueError, match=r"^initial_h has shape \(2, 6\): its rows must be x's batch \(3, x is "
                                         r"\(5, 3, 4\)\) or 1$"):
        batch_state("initial_h", np.ones((2, 6), np.float32), x)

"""lstm with gates stacked [i, f, o, z] (input, forget, output, cell), peepholes [i, f, o] and cell clip:

  i = ra(W_i x + R_i h + b_i + p_i * c), f likewise, z = ca(W_z x + R_z h + b_z),
  c = clip(f * c + i * z), o = ra(W_o x + R_o h + b_o + p_o * c), h = o * a(c).

A reverse run returns its steps in processing order; a bidirectional one concatenates
[forward, backward] per time step, the backward half aligned to the input's time (and its
final state is the one after reading the first step), as coremltools' tests against torch say.

Assumption (`_recurrent.batch_state`): initial states of more rows than the batch, as coremltools lowers
pack_padded_sequence (seq_lengths[0] rows), are cut to the batch's first rows, as Apple's tests expect.
"""

import numpy as np

from harness.mil.ops._common import activation as act
from harness.mil.ops._common import f32
from harness.mil.ops._recurrent import batch_state, project, sequence, steps


def _direction(ctx, v, h, c, weight_ih, weight_hh, bias, peephole, reverse, acts, clip):
    gate, cell_act, out_act = acts
    hidden = h.shape[-1]
    w = np.split(f32(weight_ih), 4)
    r = np.split(f32(weight_hh), 4)
    b = np.split(f32(bias) if bias is not None else np.zeros(4 * hidden, np.float32), 4)
    p_i, p_f, p_o = np.split(f32(peephole) if peephole is not None else np.zeros(3 * hidden, np.float32), 3)
    outs = {}
    for t, xt in steps(v, reverse):
        i = gate(project(ctx, xt, w[0]) + project(ctx, h, r[0]) + b[0] + p_i * c)
        f = gate(project(ctx, xt, w[1]) + project(ctx, h, r[1]) + b[1] + p_f * c)
        z = cell_act(project(ctx, xt, w[3]) + project(ctx, h, r[3]) + b[3])
        c = f * c + i * z
        if clip is not None:
            c = np.clip(c, -np.float32(clip), np.float32(clip))
        o = gate(project(ctx, xt, w[2]) + project(ctx, h, r[2]) + b[2] + p_o * c)
        h = o * out_act(c)
        outs[t] = h
    return outs, h, c


def run(ctx, x, initial_h, initial_c, weight_ih, weight_hh, bias=None, peephole=None, weight_ih_back=None,
        weight_hh_back=None, bias_back=None, peephole_back=None, direction="forward", output_sequence=False,
        recurrent_activation="sigmoid", cell_activation="tanh", activation="tanh", clip=None):
    acts = (act(str(recurrent_activation), ctx), act(str(cell_activation), ctx), act(str(activation), ctx))
    v, h0, c0 = f32(x), f32(initial_h), f32(initial_c)
    h0 = batch_state("initial_h", h0, v)
    c0 = batch_state("initial_c", c0, v)
    if direction in ("forward", "reverse"):
        outs, h, c = _direction(ctx, v, h0, c0, weight_ih, weight_hh, bias, peephole, direction == "reverse", acts,
                                clip)
        return sequence(list(outs.values()), bool(output_sequence)), h, c
    if direction != "bidirectional":
        raise ctx.unsupported(f"lstm direction {direction!r} is not supported")
    hidden = h0.shape[-1] // 2
    fwd, hf, cf = _direction(ctx, v, h0[:, :hidden], c0[:, :hidden], weight_ih, weight_hh, bias, peephole, False,
                             acts, clip)
    bwd, hb, cb = _direction(ctx, v, h0[:, hidden:], c0[:, hidden:], weight_ih_back, weight_hh_back, bias_back,
                             peephole_back, True, acts, clip)
    if bool(output_sequence):
        seq = np.stack([np.concatenate([fwd[t], bwd[t]], axis=-1) for t in range(v.shape[0])])
    else:
        seq = np.concatenate([hf, hb], axis=-1)[None]
    return seq, np.concatenate([hf, hb], axis=-1), np.concatenate([cf, cb], axis=-1)

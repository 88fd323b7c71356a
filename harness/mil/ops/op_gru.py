"""gru with gates stacked [r, o, z] (reset, output/new, update):

  r = recurrent_activation(W_r x + R_r h + b_r), z likewise,
  o = activation(W_o x + R_o (r * h) + b_o), h = (1 - z) * o + z * h.

iOS18 adds input_bias (added to the W x terms) and reset_after, which applies r after the
recurrent product (torch's GRU): o = activation(W_o x + b_io + r * (R_o h + b_o)).
A reverse run returns its steps in processing order (as rnn).
"""

import numpy as np

from harness.mil.ops._common import activation as act
from harness.mil.ops._common import f32
from harness.mil.ops._recurrent import batch_state, project, sequence, steps


def run(ctx, x, initial_h, weight_ih, weight_hh, bias=None, direction="forward", output_sequence=False,
        recurrent_activation="sigmoid", activation="tanh", reset_after=False, input_bias=None):
    if direction not in ("forward", "reverse"):
        raise ctx.unsupported(f"gru direction {direction!r} is not supported")
    gate, cell = act(str(recurrent_activation), ctx), act(str(activation), ctx)
    v, h = f32(x), f32(initial_h)
    h = batch_state("initial_h", h, v)
    hidden = h.shape[-1]
    w_r, w_o, w_z = np.split(f32(weight_ih), 3)
    r_r, r_o, r_z = np.split(f32(weight_hh), 3)
    b_r, b_o, b_z = np.split(f32(bias) if bias is not None else np.zeros(3 * hidden, np.float32), 3)
    i_r, i_o, i_z = np.split(f32(input_bias) if input_bias is not None else np.zeros(3 * hidden, np.float32), 3)
    outs = []
    for _, xt in steps(v, direction == "reverse"):
        r = gate(project(ctx, xt, w_r) + i_r + project(ctx, h, r_r) + b_r)
        z = gate(project(ctx, xt, w_z) + i_z + project(ctx, h, r_z) + b_z)
        if bool(reset_after):
            o = cell(project(ctx, xt, w_o) + i_o + r * (project(ctx, h, r_o) + b_o))
        else:
            o = cell(project(ctx, xt, w_o) + i_o + project(ctx, r * h, r_o) + b_o)
        h = (np.float32(1) - z) * o + z * h
        outs.append(h)
    return sequence(outs, bool(output_sequence)), h
